"""Seeded scenarios: a street world, its traffic and the ego path.

``street`` mixed traffic; ``intersection`` turning traffic at a crossroads; ``crowd`` ten or
more walkers around a slow sensor; ``parked-departure`` a parked car drives off and a walker
stops and stands. Every scenario is a pure function of (seed, duration).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from s2mat.errors import ConfigError
from s2mat.sim import materials as mat
from s2mat.sim import meshes
from s2mat.sim import street as st
from s2mat.sim.motion import Trajectory, arc, polyline
from s2mat.sim.world import Agent, World
from s2mat.types import ObjectClass

EGO_LANE_Y = -st.LANE / 2  # the inner lane heading +x


# --- agents ------------------------------------------------------------------------------------


def make_car(ids: st.InstanceIds, rng: np.random.Generator, traj: Trajectory) -> Agent:
    size = st.car_size(rng)
    color = mat.CAR_COLORS[rng.integers(len(mat.CAR_COLORS))]
    return Agent(ids(), ObjectClass.CAR, mat.CAR, size, meshes.car(*size), color,
                 mat.MATERIALS["car_paint"].reflectivity, traj)


def make_person(ids: st.InstanceIds, rng: np.random.Generator, traj: Trajectory) -> Agent:
    height = rng.uniform(1.55, 1.9)
    girth = rng.uniform(0.38, 0.5)
    color = mat.CLOTHING_COLORS[rng.integers(len(mat.CLOTHING_COLORS))]
    size = np.array([0.5, max(girth, 0.32) + 0.02, height])
    return Agent(ids(), ObjectClass.PEDESTRIAN, mat.PERSON, size, meshes.person(height, girth), color,
                 mat.MATERIALS["clothing"].reflectivity, traj)


def make_cyclist(ids: st.InstanceIds, rng: np.random.Generator, traj: Trajectory) -> Agent:
    color = mat.CLOTHING_COLORS[rng.integers(len(mat.CLOTHING_COLORS))]
    size = np.array([1.8, 0.6, 1.85])
    return Agent(ids(), ObjectClass.CYCLIST, mat.BICYCLIST, size, meshes.cyclist(1.85), color,
                 mat.MATERIALS["bicycle"].reflectivity, traj)


def straight(x_from: float, x_to: float, y: float, z: float = 0.0) -> np.ndarray:
    return polyline([[x_from, y, z], [x_to, y, z]], step=2.0)


def lane_car(ids, rng, duration, y, x_start, knots_t, knots_v) -> Agent:
    """A car in the lane at ``y`` heading +x (y < 0) or -x (y > 0), starting at ``x_start``."""
    far = 1000.0
    path = straight(x_start, x_start + far, y) if y < 0 else straight(x_start, x_start - far, y)
    return make_car(ids, rng, Trajectory(path, knots_t, knots_v, duration))


def walker_path(rng: np.random.Generator, x_start: float, side: int, direction: int, length: float) -> np.ndarray:
    """A sidewalk path with a little sideways wander, ground z on the sidewalk."""
    y = side * rng.uniform(st.ROAD_HALF + 2.0, st.SIDEWALK_OUT - 0.8)
    xs = x_start + direction * np.linspace(0.0, length, max(2, int(length / 4.0) + 1))
    ys = y + rng.normal(0.0, 0.15, len(xs))
    return polyline(np.column_stack([xs, ys, np.full(len(xs), st.CURB_HEIGHT)]))


def crossing_path(x: float, from_side: int, approach: float = 3.0) -> np.ndarray:
    """Walk along the sidewalk for ``approach`` metres, then straight across the road."""
    y0 = from_side * (st.ROAD_HALF + 2.5)
    y_curb = from_side * (st.ROAD_HALF + 0.3)
    pts = [[x - approach, y0, st.CURB_HEIGHT], [x, y0, st.CURB_HEIGHT], [x, y_curb, st.CURB_HEIGHT],
           [x, y_curb - from_side * 0.4, 0.0], [x, -y_curb + from_side * 0.4, 0.0], [x, -y_curb, st.CURB_HEIGHT],
           [x, -y0, st.CURB_HEIGHT], [x + 20.0, -y0, st.CURB_HEIGHT]]
    return polyline(pts)


PEOPLE_APART = 0.6  # metres between two people's centres at every moment; a body is at most 0.52 m across


class People:
    """Places a scenario's people so that no two bodies overlap.

    Each person's trajectory is drawn by ``propose``; one that comes within PEOPLE_APART of a
    person placed before, at any moment of the run, is drawn again (at most ``tries`` times,
    then that person is left out). People in a street step around each other; drawn
    independently, two walkers on one sidewalk would overtake through each other, or two
    standing people stand inside each other, and no sensor could tell them apart.
    """

    def __init__(self, ids: st.InstanceIds, rng: np.random.Generator, duration: float, tries: int = 20) -> None:
        self.ids, self.rng, self.duration, self.tries = ids, rng, duration, tries
        self._times = np.arange(0.0, duration + 1e-9, 0.05)
        self._placed = np.empty((0, len(self._times), 2))  # per person, the ground position at each time

    def add(self, propose: Callable[[], Trajectory]) -> list[Agent]:
        """The person walking the first trajectory from ``propose`` that keeps clear of the
        people placed, as a list of one; an empty list if none of ``tries`` does."""
        for _ in range(self.tries):
            traj = propose()
            xy = traj.pose(self._times)[0][:, :2]
            if np.linalg.norm(self._placed - xy, axis=2).min(initial=np.inf) >= PEOPLE_APART:
                self._placed = np.concatenate([self._placed, xy[None]])
                return [make_person(self.ids, self.rng, traj)]
        return []


def sidewalk_walkers(people: People, x_lo, x_hi, count, stops: bool = True) -> list[Agent]:
    rng, duration = people.rng, people.duration

    def propose() -> Trajectory:
        side = -1 if rng.random() < 0.6 else 1
        direction = 1 if rng.random() < 0.5 else -1
        speed = rng.uniform(0.9, 1.6)
        path = walker_path(rng, rng.uniform(x_lo, x_hi), side, direction, speed * duration + 10.0)
        if stops and rng.random() < 0.3:
            t_stop = rng.uniform(0.2, 0.7) * duration
            t_go = t_stop + rng.uniform(1.0, 4.0)
            kt, kv = [0.0, t_stop, t_stop + 0.4, t_go, t_go + 0.6], [speed, speed, 0.0, 0.0, speed]
        else:
            kt, kv = [0.0], [speed]
        return Trajectory(path, np.array(kt), np.array(kv), duration)

    return [person for _ in range(count) for person in people.add(propose)]


def standing_people(people: People, x_lo, x_hi, count) -> list[Agent]:
    rng = people.rng

    def propose() -> Trajectory:
        side = -1 if rng.random() < 0.6 else 1
        x, y = rng.uniform(x_lo, x_hi), side * rng.uniform(st.ROAD_HALF + 1.8, st.SIDEWALK_OUT - 0.5)
        return Trajectory.standing(x, y, st.CURB_HEIGHT, rng.uniform(-np.pi, np.pi), people.duration)

    return [person for _ in range(count) for person in people.add(propose)]


def cyclists(ids, rng, duration, x_lo, x_hi, count) -> list[Agent]:
    out = []
    for _ in range(count):
        side = -1 if rng.random() < 0.6 else 1
        y = side * (st.LANES_EDGE - 0.6)
        speed = rng.uniform(3.5, 6.5)
        x0 = rng.uniform(x_lo, x_hi)
        path = straight(x0, x0 - side * 1000.0, y)
        kt = np.array([0.0, duration])
        kv = np.array([speed, speed * rng.uniform(0.8, 1.2)])
        out.append(make_cyclist(ids, rng, Trajectory(path, kt, kv, duration)))
    return out


def traffic(ids, rng, duration, ego_speed, x_lo, x_hi, density: float) -> list[Agent]:
    """Cars in the three lanes beside the ego; one speed profile per lane so nobody rear-ends."""
    out = []
    lanes = [(-3 * st.LANE / 2, ego_speed * rng.uniform(1.15, 1.6)),
             (st.LANE / 2, rng.uniform(7.0, 12.0)), (3 * st.LANE / 2, rng.uniform(6.0, 11.0))]
    for y, speed in lanes:
        kt = np.array([0.0, duration / 2, duration])
        kv = speed * np.array([1.0, rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)])
        travel = speed * duration
        # Spread cars over the stretch they will pass the ego in.
        lo, hi = (x_lo - travel, x_hi) if y < 0 else (x_lo, x_hi + travel)
        x = lo + rng.uniform(0, 10)
        while x < hi:
            if y > 0 or abs(x) > 12.0:  # never on top of the ego at the start
                out.append(lane_car(ids, rng, duration, y, x, kt, kv))
            x += rng.uniform(18.0, 45.0) / density
    # One leading car in the ego lane, slowly pulling away.
    kv_lead = np.array([ego_speed * 1.1])
    out.append(lane_car(ids, rng, duration, EGO_LANE_Y, rng.uniform(22.0, 30.0), np.array([0.0]), kv_lead))
    return out


def ego_path(speed: float, duration: float, y: float = EGO_LANE_Y) -> Trajectory:
    """The sensor's vehicle: straight along the lane at ``y``, at x = 0 when t = 0."""
    path = straight(-20.0, speed * duration + 60.0, y)
    return Trajectory(path, np.array([0.0]), np.array([speed]), duration, start_s=20.0)


# --- scenarios ---------------------------------------------------------------------------------


def build_street(seed: int, duration: float) -> World:
    rng = np.random.default_rng([seed, 1])
    ego_speed = 8.0
    length = ego_speed * duration
    layout = st.Layout(-130.0, length + 150.0)
    ids = st.InstanceIds()
    parts = st.ground(layout) + st.lane_markings(layout) + st.buildings(rng, layout) + st.street_furniture(rng, layout)
    parts += st.parked_cars(rng, layout, ids)
    agents = traffic(ids, rng, duration, ego_speed, -60.0, length + 100.0, density=1.0)
    agents += cyclists(ids, rng, duration, -20.0, length + 60.0, 2)
    people = People(ids, rng, duration)
    agents += sidewalk_walkers(people, -20.0, length + 50.0, 8)
    agents += standing_people(people, -10.0, length + 40.0, 2)
    xc = rng.uniform(25.0, 40.0) + 0.5 * length
    agents += people.add(lambda: Trajectory.constant(crossing_path(xc, -1), 1.3, duration))
    return World(parts, agents, ego_path(ego_speed, duration), "street", (layout.x0, layout.x1, -40, 40))


def _turn_paths(cx: float, before: float, after: float) -> dict[str, np.ndarray]:
    """Canonical paths approaching the crossroads at (cx, 0) from the west, heading +x."""
    inner, outer = -st.LANE / 2, -3 * st.LANE / 2
    r_right = st.ROAD_HALF + outer  # 3.75 m
    r_left = st.ROAD_HALF - inner  # 10.75 m
    corner = cx - st.ROAD_HALF
    right = np.vstack([
        polyline([[corner - before, outer, 0], [corner, outer, 0]]),
        arc((corner, -st.ROAD_HALF), r_right, np.pi / 2, 0.0),
        polyline([[cx + outer, -st.ROAD_HALF, 0], [cx + outer, -st.ROAD_HALF - after, 0]]),
    ])
    left = np.vstack([
        polyline([[corner - before, inner, 0], [corner, inner, 0]]),
        arc((corner, st.ROAD_HALF), r_left, -np.pi / 2, 0.0),
        polyline([[cx - inner, st.ROAD_HALF, 0], [cx - inner, st.ROAD_HALF + after, 0]]),
    ])
    through = polyline([[corner - before, inner, 0], [cx + st.ROAD_HALF + after, inner, 0]])
    return {"right": right, "left": left, "straight": through}


def _rotate_about(path: np.ndarray, cx: float, quarter_turns: int) -> np.ndarray:
    a = quarter_turns * np.pi / 2
    c, s = np.cos(a), np.sin(a)
    out = path.copy()
    dx, dy = path[:, 0] - cx, path[:, 1]
    out[:, 0] = cx + c * dx - s * dy
    out[:, 1] = s * dx + c * dy
    return out


def build_intersection(seed: int, duration: float) -> World:
    rng = np.random.default_rng([seed, 2])
    ego_speed = 7.0
    length = ego_speed * duration
    cx = 32.0
    layout = st.Layout(-130.0, max(length, cx) + 150.0, cross_x=cx)
    ids = st.InstanceIds()
    parts = st.ground(layout) + st.lane_markings(layout) + st.buildings(rng, layout) + st.street_furniture(rng, layout)
    parts += st.parked_cars(rng, layout, ids)
    agents: list[Agent] = []
    # Waves of turning traffic from the four approaches, arriving at the corner at staggered times.
    # quarter turns: 0 = from the west (ego direction), 1 = from the south, 2 = east, 3 = north.
    plan = [(0, "right", 0.8), (2, "left", 0.3), (1, "right", 1.6), (3, "straight", 2.4), (1, "left", 3.4),
            (2, "straight", 0.0), (3, "right", 4.2), (0, "right", 5.0), (2, "left", 5.8)]
    wave = 7.0
    for w in range(int(np.ceil(duration / wave)) + 1):
        for quarter, kind, t_arrive in plan:
            t_arrive = t_arrive + w * wave
            speed = rng.uniform(5.0, 9.0)
            before = speed * t_arrive + 5.0
            path = _rotate_about(_turn_paths(cx, before, 200.0)[kind], cx, quarter)
            kt = np.array([0.0, t_arrive, t_arrive + 2.0])
            kv = np.array([speed, speed * 0.7 if kind != "straight" else speed, speed])  # slow through the turn
            traj = Trajectory(path, kt, kv, duration)
            # Start the car so it reaches the corner at about t_arrive despite slowing there.
            agents.append(make_car(ids, rng, traj))
    agents += cyclists(ids, rng, duration, -10.0, cx + 40.0, 1)
    people = People(ids, rng, duration)  # those on set routes first, then the sidewalk walkers around them
    for k in range(3):
        # People on the zebra crossings of the cross street.
        y = (1 if k % 2 else -1) * (st.ROAD_HALF + 2.0)
        x_from = cx - st.ROAD_HALF - 3.0 - 6.0 * k
        path = polyline([[x_from, y, st.CURB_HEIGHT], [cx - st.ROAD_HALF - 0.3, y, st.CURB_HEIGHT],
                         [cx - st.ROAD_HALF + 0.2, y, 0.0], [cx + st.ROAD_HALF - 0.2, y, 0.0],
                         [cx + st.ROAD_HALF + 0.3, y, st.CURB_HEIGHT], [cx + st.ROAD_HALF + 30.0, y, st.CURB_HEIGHT]])
        agents += people.add(lambda path=path: Trajectory.constant(path, rng.uniform(1.1, 1.5), duration))
    agents += sidewalk_walkers(people, -10.0, cx - 12.0, 5)
    return World(parts, agents, ego_path(ego_speed, duration), "intersection",
                 (layout.x0, layout.x1, -layout.cross_len, layout.cross_len))


def build_crowd(seed: int, duration: float) -> World:
    rng = np.random.default_rng([seed, 3])
    ego_speed = 1.5
    length = ego_speed * duration
    layout = st.Layout(-100.0, length + 120.0)
    ids = st.InstanceIds()
    parts = st.ground(layout) + st.lane_markings(layout) + st.buildings(rng, layout) + st.street_furniture(rng, layout)
    parts += st.parked_cars(rng, layout, ids, occupancy=0.35)
    people = People(ids, rng, duration)  # those on set routes first, then the others around them
    agents: list[Agent] = []
    # Groups crossing the road behind the sensor and well ahead of it.
    for x, side in ((-9.0, -1), (-6.0, 1), (length + 14.0, 1), (length + 18.0, -1)):
        agents += people.add(lambda x=x, side=side: Trajectory.constant(crossing_path(x + rng.uniform(-1, 1), side),
                                                                        rng.uniform(1.0, 1.5), duration))
    agents += sidewalk_walkers(people, -12.0, length + 12.0, 12)
    agents += standing_people(people, -8.0, length + 8.0, 3)
    agents += cyclists(ids, rng, duration, -30.0, length + 30.0, 1)
    for k in range(2):
        y, x0 = st.LANE / 2, length + 40.0 + 30.0 * k
        agents.append(lane_car(ids, rng, duration, y, x0, np.array([0.0]), np.array([6.0])))
    return World(parts, agents, ego_path(ego_speed, duration), "crowd", (layout.x0, layout.x1, -40, 40))


def build_parked_departure(seed: int, duration: float) -> World:
    rng = np.random.default_rng([seed, 4])
    ego_speed = 4.0
    length = ego_speed * duration
    layout = st.Layout(-100.0, length + 130.0)
    ids = st.InstanceIds()
    x_car = 22.0
    parts = st.ground(layout) + st.lane_markings(layout) + st.buildings(rng, layout) + st.street_furniture(rng, layout)
    parts += st.parked_cars(rng, layout, ids, keep_free=[(x_car - 6.0, x_car + 6.0, -1)])
    agents: list[Agent] = []
    # The parked car: stands in the parking strip, then pulls out into the outer lane and drives off.
    y_park, y_lane = -st.PARKING_Y, -3 * st.LANE / 2
    xs = np.linspace(0.0, 14.0, 30)
    blend = 0.5 - 0.5 * np.cos(np.pi * xs / 14.0)
    pull_out = np.column_stack([x_car + xs, y_park + (y_lane - y_park) * blend, np.zeros_like(xs)])
    path = np.vstack([pull_out, polyline([[x_car + 14.5, y_lane, 0], [x_car + 1000.0, y_lane, 0]], step=2.0)])
    t_go = max(0.3, 0.3 * duration)
    traj = Trajectory(path, np.array([0.0, t_go, t_go + 4.0]), np.array([0.0, 0.0, 10.0]), duration)
    agents.append(make_car(ids, rng, traj))
    # The walker who stops and stands for the rest of the run.
    t_stop = max(0.5, 0.45 * duration)
    people = People(ids, rng, duration)
    agents += people.add(lambda: Trajectory(walker_path(rng, 8.0, -1, 1, 40.0), np.array([0.0, t_stop - 0.4, t_stop]),
                                            np.array([1.3, 1.3, 0.0]), duration))
    agents += standing_people(people, 0.0, length + 30.0, 2)
    agents += sidewalk_walkers(people, -10.0, length + 40.0, 3, stops=False)
    for k in range(3):
        agents.append(lane_car(ids, rng, duration, st.LANE / 2, length + 50.0 + 35.0 * k, np.array([0.0]), np.array([8.0])))
    return World(parts, agents, ego_path(ego_speed, duration), "parked-departure", (layout.x0, layout.x1, -40, 40))


SCENARIOS: dict[str, Callable[[int, float], World]] = {
    "street": build_street,
    "intersection": build_intersection,
    "crowd": build_crowd,
    "parked-departure": build_parked_departure,
}


def build(name: str, seed: int, duration: float) -> World:
    """The world of scenario ``name`` for a run of ``duration`` seconds."""
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}")
    return SCENARIOS[name](int(seed), float(duration))
