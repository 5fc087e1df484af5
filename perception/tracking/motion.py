"""Motion models and an interacting multiple model (IMM) filter, batched over tracks.

The ground-plane state of every model is ``[x, y, vx, vy, omega]`` (metres, m/s, rad/s) in
the tracking frame (z up). Model 0 is constant velocity (omega held at zero), model 1 is a
coordinated turn. The filter keeps one Gaussian per model and track and mixes them with
the standard IMM recursion (Blom & Bar-Shalom): mixing, model-matched prediction and
update, model-probability update, combination. Everything is vectorised over tracks, so a
frame costs a fixed number of numpy calls however many objects are tracked; the result
matches filterpy's ``IMMEstimator`` run one object at a time (checked in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

STATE_DIM = 5
N_MODELS = 2
_H = np.zeros((2, STATE_DIM))
_H[0, 0] = _H[1, 1] = 1.0
_H_VELOCITY = np.zeros((2, STATE_DIM))
_H_VELOCITY[0, 2] = _H_VELOCITY[1, 3] = 1.0
_EYE2, _EYE5 = np.eye(2), np.eye(STATE_DIM)
_ADJ_SIGN = np.array([[1.0, -1.0], [-1.0, 1.0]])  # adjugate of a 2x2 matrix: swap, transpose, sign


def _inverse_2x2(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and determinants of a stack of 2x2 matrices ``S`` (..., 2, 2), in closed form."""
    det = S[..., 0, 0] * S[..., 1, 1] - S[..., 0, 1] * S[..., 1, 0]
    adj = np.multiply(np.swapaxes(S[..., ::-1, ::-1], -1, -2), _ADJ_SIGN, order="C")
    return adj / det[..., None, None], det


@dataclass(frozen=True)
class MotionNoise:
    """Per-track noise parameters (arrays of shape (N,) so classes can differ)."""

    accel_std: np.ndarray  # white-noise acceleration of the CV model, m/s^2
    turn_accel_std: np.ndarray  # white-noise acceleration of the CT model, m/s^2
    turn_rate_std: np.ndarray  # turn-rate random walk of the CT model, rad/s per sqrt(s)
    pos_std: np.ndarray  # measurement noise of the centre, metres


def cv_predict(x: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Constant-velocity prediction of (N, 5) states: new states and Jacobians (N, 5, 5)."""
    out = x.copy()
    out[:, 0] += dt * x[:, 2]
    out[:, 1] += dt * x[:, 3]
    out[:, 4] = 0.0
    return out, np.broadcast_to(_cv_jacobian(dt), (len(x), STATE_DIM, STATE_DIM))


@lru_cache(maxsize=16)
def _cv_jacobian(dt: float) -> np.ndarray:
    """The (5, 5) constant-velocity Jacobian over ``dt`` seconds (read-only, cached)."""
    F = np.diag([1.0, 1.0, 1.0, 1.0, 0.0])
    F[0, 2] = F[1, 3] = dt
    F.flags.writeable = False
    return F


def ct_predict(x: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinated-turn prediction of (N, 5) states (exact for any turn rate) and its
    analytic Jacobians (N, 5, 5), the linearisation used to propagate the covariance."""
    out = np.empty_like(x)
    F = np.zeros((len(x), STATE_DIM, STATE_DIM))
    _ct_predict_into(x, dt, out, F)
    return out, F


def _ct_predict_into(x: np.ndarray, dt: float, out: np.ndarray, F: np.ndarray) -> None:
    """:func:`ct_predict` writing into ``out`` (N, 5) and the zero-initialised ``F`` (N, 5, 5)."""
    px, py, vx, vy, w = x.T
    wt = w * dt
    s, c = np.sin(wt), np.cos(wt)
    small = np.abs(wt) < 1e-4
    if small.any():
        w_safe = np.where(small, 1.0, w)
        # a = sin(wt)/w, b = (1 - cos(wt))/w and their w-derivatives, with series near w = 0.
        a = np.where(small, dt - w * w * dt**3 / 6.0, s / w_safe)
        b = np.where(small, w * dt * dt / 2.0 - w**3 * dt**4 / 24.0, (1.0 - c) / w_safe)
        da = np.where(small, -w * dt**3 / 3.0, (dt * c - a) / w_safe)
        db = np.where(small, dt * dt / 2.0 - w * w * dt**4 / 8.0, (dt * s - b) / w_safe)
    else:
        a = s / w
        b = (1.0 - c) / w
        da = (dt * c - a) / w
        db = (dt * s - b) / w
    svx, svy, cvx, cvy = s * vx, s * vy, c * vx, c * vy
    out[:, 0] = px + a * vx - b * vy
    out[:, 1] = py + b * vx + a * vy
    out[:, 2] = cvx - svy
    out[:, 3] = svx + cvy
    out[:, 4] = w
    F[:, 0, 0] = F[:, 1, 1] = F[:, 4, 4] = 1.0
    F[:, 0, 2], F[:, 0, 3], F[:, 0, 4] = a, -b, da * vx - db * vy
    F[:, 1, 2], F[:, 1, 3], F[:, 1, 4] = b, a, db * vx + da * vy
    F[:, 2, 2], F[:, 2, 3], F[:, 2, 4] = c, -s, -dt * (svx + cvy)
    F[:, 3, 2], F[:, 3, 3], F[:, 3, 4] = s, c, dt * (cvx - svy)


def process_noise(noise: MotionNoise, dt: float) -> np.ndarray:
    """Discrete process noise of both models, (N, 2, 5, 5)."""
    n = len(noise.accel_std)
    Q = np.zeros((n, N_MODELS, STATE_DIM, STATE_DIM))
    g = np.array([dt * dt / 2.0, dt])
    block = np.outer(g, g)  # (2, 2) for one axis: [pos, vel]
    for m, acc in enumerate((noise.accel_std, noise.turn_accel_std)):
        q = acc[:, None, None] ** 2 * block
        for axis in (0, 1):
            idx = np.ix_([axis, axis + 2], [axis, axis + 2])
            Q[:, m][(slice(None), *idx)] = q
    Q[:, 0, 4, 4] = 1e-6
    Q[:, 1, 4, 4] = noise.turn_rate_std**2 * dt
    return Q


class IMMFilter:
    """A batch of IMM filters (CV + CT) over the ground-plane state of N tracks.

    Attributes are plain arrays so the tracker can index, append and compress them:
    ``x`` (N, 2, 5) model states, ``P`` (N, 2, 5, 5) covariances, ``mu`` (N, 2) model
    probabilities. ``transition`` is the (2, 2) Markov matrix p(model j | model i).
    """

    def __init__(self, transition: np.ndarray) -> None:
        self.transition = np.asarray(transition, dtype=np.float64)
        self.x = np.zeros((0, N_MODELS, STATE_DIM))
        self.P = np.zeros((0, N_MODELS, STATE_DIM, STATE_DIM))
        self.mu = np.zeros((0, N_MODELS))
        self._cbar = np.zeros((0, N_MODELS))

    def __len__(self) -> int:
        return len(self.x)

    def add(self, xy: np.ndarray, pos_std: np.ndarray, speed_std: np.ndarray, mu0: np.ndarray) -> None:
        """Start filters at (M, 2) positions with zero velocity and the given uncertainty."""
        m = len(xy)
        x = np.zeros((m, N_MODELS, STATE_DIM))
        x[:, :, :2] = xy[:, None, :]
        P = np.zeros((m, N_MODELS, STATE_DIM, STATE_DIM))
        P[:, :, 0, 0] = P[:, :, 1, 1] = (pos_std**2)[:, None]
        P[:, :, 2, 2] = P[:, :, 3, 3] = (speed_std**2)[:, None]
        P[:, 0, 4, 4] = 1e-6
        P[:, 1, 4, 4] = 0.3**2
        self.x = np.concatenate([self.x, x])
        self.P = np.concatenate([self.P, P])
        self.mu = np.concatenate([self.mu, np.broadcast_to(mu0, (m, N_MODELS))])
        self._cbar = np.concatenate([self._cbar, np.broadcast_to(mu0, (m, N_MODELS))])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the filters where ``mask`` is False."""
        self.x, self.P, self.mu, self._cbar = self.x[mask], self.P[mask], self.mu[mask], self._cbar[mask]

    def predict(self, dt: float, Q: np.ndarray) -> None:
        """IMM mixing followed by model-matched prediction over ``dt`` seconds.

        ``Q`` is the (N, 2, 5, 5) discrete process noise of both models (see
        :func:`process_noise`). Afterwards ``mu`` holds the predicted model probabilities
        (the Markov chain advanced one step), so a track that coasts several frames keeps
        mixing its models.
        """
        if len(self) == 0:
            return
        # Mixing: cbar_j = sum_i p_ij mu_i ; w_ij = p_ij mu_i / cbar_j.
        joint = self.mu[:, :, None] * self.transition[None]  # (N, i, j)
        cbar = joint.sum(axis=1) + 1e-300
        w = joint / cbar[:, None, :]
        x0 = np.einsum("nij,nik->njk", w, self.x)  # (N, j, 5)
        d = self.x[:, :, None, :] - x0[:, None, :, :]  # (N, i, j, 5)
        spread = self.P[:, :, None] + d[..., :, None] * d[..., None, :]  # (N, i, j, 5, 5)
        P0 = np.einsum("nij,nijab->njab", w, spread)
        # Model-matched prediction.
        n = len(self.x)
        x = np.empty((n, N_MODELS, STATE_DIM))
        F = np.zeros((n, N_MODELS, STATE_DIM, STATE_DIM))
        x[:, 0] = x0[:, 0]
        x[:, 0, 0] += dt * x0[:, 0, 2]
        x[:, 0, 1] += dt * x0[:, 0, 3]
        x[:, 0, 4] = 0.0
        F[:, 0] = _cv_jacobian(dt)
        x[:, 1], F[:, 1] = ct_predict(x0[:, 1], dt)
        self.x = x
        self.P = F @ P0 @ np.swapaxes(F, -1, -2) + Q
        self._cbar = cbar
        self.mu = cbar

    def cap(self, pos_std: np.ndarray, speed_std: np.ndarray) -> None:
        """Bound every model's position and velocity standard deviations (per track, (N,)).

        Rows and columns of P are scaled (P <- D P D with D diagonal, entries <= 1), so P
        stays symmetric positive definite and correlations are kept. A coasting track's
        uncertainty therefore stops growing once it reaches the bound, and its gate with it.
        """
        self.cap_squared(np.stack([pos_std, pos_std, speed_std, speed_std], axis=-1) ** 2)

    def cap_squared(self, bound: np.ndarray) -> None:
        """:meth:`cap` with the (N, 4) squared bounds of ``[x, y, vx, vy]`` given directly."""
        if len(self) == 0:
            return
        diag = np.diagonal(self.P, axis1=-2, axis2=-1)  # (N, 2, 5)
        bound = bound[:, None, :]  # (N, 1, 4)
        scale = np.ones_like(diag)
        scale[..., :4] = np.sqrt(np.minimum(1.0, bound / np.maximum(diag[..., :4], 1e-300)))
        if (scale < 1.0).any():
            self.P = self.P * scale[..., :, None] * scale[..., None, :]

    def innovation(
        self, pos_std: np.ndarray, combined: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Combined predicted centre (N, 2) and innovation covariance (N, 2, 2).

        ``combined`` may pass the result of :meth:`combined` when the caller already has it.
        """
        xc, Pc = combined if combined is not None else self.combined()
        S = Pc[:, :2, :2] + (pos_std**2)[:, None, None] * _EYE2
        return xc[:, :2], S

    def update(self, idx: np.ndarray, z: np.ndarray, pos_std: np.ndarray) -> None:
        """Kalman update of tracks ``idx`` with (M, 2) measured centres and (M,) noise; others keep the prediction."""
        if len(idx) == 0:
            return
        x, P = self.x[idx], self.P[idx]  # (M, 2, 5), (M, 2, 5, 5)
        R = (np.asarray(pos_std) ** 2)[:, None, None, None] * _EYE2
        S = P[..., :2, :2] + R  # (M, 2, 2, 2)
        nu = z[:, None, :] - x[..., :2]  # (M, 2, 2)
        Sinv, det = _inverse_2x2(S)
        K = P[..., :, :2] @ Sinv  # (M, 2, 5, 2)
        self.x[idx] = x + np.einsum("nmab,nmb->nma", K, nu)
        IKH = _EYE5 - K @ _H
        # Joseph form keeps P symmetric and positive definite.
        self.P[idx] = IKH @ P @ np.swapaxes(IKH, -1, -2) + K @ R @ np.swapaxes(K, -1, -2)
        d2 = np.einsum("nma,nmab,nmb->nm", nu, Sinv, nu)
        like = np.exp(-0.5 * d2) / (2.0 * np.pi * np.sqrt(det))
        mu = like * self._cbar[idx] + 1e-300
        self.mu[idx] = mu / mu.sum(axis=1, keepdims=True)

    def hold_still(self, idx: np.ndarray, speed_std: np.ndarray) -> None:
        """Kalman update of tracks ``idx`` (every model) with a zero ground velocity measured
        with (M,) ``speed_std`` m/s of noise: what stands still does not pick up speed from the
        jitter of its detected boxes. Model probabilities are kept."""
        if len(idx) == 0:
            return
        x, P = self.x[idx], self.P[idx]  # (M, 2, 5), (M, 2, 5, 5)
        R = (np.asarray(speed_std) ** 2)[:, None, None, None] * _EYE2
        S = P[..., 2:4, 2:4] + R
        K = P[..., :, 2:4] @ _inverse_2x2(S)[0]  # (M, 2, 5, 2)
        self.x[idx] = x - np.einsum("nmab,nmb->nma", K, x[..., 2:4])
        IKH = _EYE5 - K @ _H_VELOCITY
        self.P[idx] = IKH @ P @ np.swapaxes(IKH, -1, -2) + K @ R @ np.swapaxes(K, -1, -2)

    def combined(self) -> tuple[np.ndarray, np.ndarray]:
        """Moment-matched single Gaussian per track: (N, 5) and (N, 5, 5)."""
        xc = np.einsum("nm,nma->na", self.mu, self.x)
        d = self.x - xc[:, None, :]
        Pc = np.einsum("nm,nmab->nab", self.mu, self.P + d[..., :, None] * d[..., None, :])
        return xc, Pc
