"""The batched IMM equals filterpy's IMMEstimator run one object at a time.

filterpy's ``KalmanFilter`` predicts linearly (x <- F x). The constant-velocity model is
linear, so it is used as is. The coordinated-turn model is not: its filterpy counterpart is
a ``KalmanFilter`` whose ``predict`` moves the state with the same exact turn motion and
propagates the covariance with the same analytic Jacobian (the extended-Kalman
linearisation s2mat uses), everything else (update with Joseph form, likelihood, mixing,
model probabilities) being filterpy's. A pure CV + CV pair, where no override is needed,
is checked as well. Every step has a measurement: while a track coasts, s2mat advances the
model probabilities through the Markov chain at each prediction, whereas filterpy keeps
the last posterior ones until the next update, so coasting is not compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import IMMEstimator, KalmanFilter

from perception.tracking.motion import (
    N_MODELS,
    STATE_DIM,
    IMMFilter,
    MotionNoise,
    ct_predict,
    cv_predict,
    process_noise,
)

DT = 0.1
TRANSITION = np.array([[0.95, 0.05], [0.05, 0.95]])


class _TurnKF(KalmanFilter):
    """filterpy Kalman filter with the coordinated-turn motion, linearised like s2mat's."""

    def predict(self, u=None, B=None, F=None, Q=None):  # noqa: ARG002 - filterpy's signature
        x, J = ct_predict(self.x[:, 0][None], self.dt)
        self.F = J[0]
        self.x = x[0][:, None]
        self.P = self.F @ self.P @ self.F.T + self.Q
        self.x_prior, self.P_prior = self.x.copy(), self.P.copy()


def _kf(cls, x0, P0, Q, R):
    kf = cls(dim_x=STATE_DIM, dim_z=2)
    kf.dt = DT
    F = np.asarray(cv_predict(np.zeros((1, STATE_DIM)), DT)[1][0])
    kf.F = F.copy()
    kf.H = np.zeros((2, STATE_DIM))
    kf.H[0, 0] = kf.H[1, 1] = 1.0
    kf.x = x0[:, None].copy()
    kf.P, kf.Q, kf.R = P0.copy(), Q.copy(), R.copy()
    return kf


def _run(models: tuple[type, type], turn: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_tracks, n_steps = 3, 40
    noise = MotionNoise(
        accel_std=rng.uniform(1, 8, n_tracks), turn_accel_std=rng.uniform(1, 3, n_tracks),
        turn_rate_std=rng.uniform(0.3, 1.0, n_tracks), pos_std=rng.uniform(0.1, 0.4, n_tracks),
    )
    Q = process_noise(noise, DT)
    if not turn:  # CV + CV: both models constant velocity with the CV noise
        Q[:, 1] = Q[:, 0]
    imm = IMMFilter(TRANSITION)
    start = rng.normal(0, 5, (n_tracks, 2))
    imm.add(start, noise.pos_std, np.full(n_tracks, 5.0), np.array([0.6, 0.4]))
    if turn:
        imm.x[:, 1, 4] = rng.normal(0, 0.3, n_tracks)
    refs = []
    for k in range(n_tracks):
        R = noise.pos_std[k] ** 2 * np.eye(2)
        kfs = [_kf(models[m], imm.x[k, m], imm.P[k, m], Q[k, m], R) for m in range(N_MODELS)]
        refs.append(IMMEstimator(kfs, imm.mu[k].copy(), TRANSITION))
    # Ground truth: turning objects measured with noise.
    truth = np.concatenate([start, rng.normal(0, 6, (n_tracks, 2)), rng.normal(0, 0.4, (n_tracks, 1))], axis=1)
    all_idx = np.arange(n_tracks)
    for _ in range(n_steps):
        truth = ct_predict(truth, DT)[0]
        z = truth[:, :2] + rng.normal(0, 1, (n_tracks, 2)) * noise.pos_std[:, None]
        imm.predict(DT, Q)
        for k, ref in enumerate(refs):
            ref.predict()
            for m, f in enumerate(ref.filters):
                np.testing.assert_allclose(imm.x[k, m], f.x[:, 0], rtol=0, atol=1e-9)
                np.testing.assert_allclose(imm.P[k, m], f.P, rtol=0, atol=1e-9)
        imm.update(all_idx, z, noise.pos_std)
        xc, Pc = imm.combined()
        for k, ref in enumerate(refs):
            ref.update(z[k][:, None])
            np.testing.assert_allclose(imm.mu[k], ref.mu, rtol=0, atol=1e-9)
            np.testing.assert_allclose(xc[k], ref.x[:, 0], rtol=0, atol=1e-9)
            np.testing.assert_allclose(Pc[k], ref.P, rtol=0, atol=1e-9)


@pytest.fixture
def cv_cv(monkeypatch):
    """Make the batched filter's second model constant velocity too."""
    import perception.tracking.motion as motion

    monkeypatch.setattr(motion, "ct_predict", cv_predict)


def test_batched_cv_ct_imm_equals_filterpy_imm_estimator():
    _run((KalmanFilter, _TurnKF), turn=True, seed=3)


def test_batched_cv_cv_imm_equals_filterpy_imm_estimator(cv_cv):
    _run((KalmanFilter, KalmanFilter), turn=False, seed=4)


def test_coordinated_turn_jacobian_matches_central_differences():
    rng = np.random.default_rng(0)
    for turn_rate in (1.0, 1e-5, 0.0):
        x = rng.normal(0, 3, (6, STATE_DIM))
        x[:, 4] = rng.normal(0, 1, 6) * turn_rate
        _, F = ct_predict(x, DT)
        h = 1e-6
        cols = [(ct_predict(x + h * e, DT)[0] - ct_predict(x - h * e, DT)[0]) / (2 * h) for e in np.eye(STATE_DIM)]
        np.testing.assert_allclose(F, np.stack(cols, axis=-1), rtol=0, atol=1e-7)
