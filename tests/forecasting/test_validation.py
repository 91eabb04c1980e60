"""The validation curve: per-epoch held-out loss, checked against windows cut by hand."""

from __future__ import annotations

import numpy as np

from unrolled.forecasting.forecaster import Forecaster, ForecastSettings
from unrolled.forecasting.validation import EpochSnapshots, validation_curve


def test_the_last_validation_loss_is_the_held_out_mse_of_the_fitted_model() -> None:
    t = np.arange(80)
    series = (100 + t + 8 * np.sin(2 * np.pi * t / 12)).reshape(-1, 1)
    settings = ForecastSettings(look_back=6, horizon=2, epochs=3, units=[4], seed=3)
    snapshots = EpochSnapshots()
    forecaster = Forecaster(settings)
    forecaster.fit(series[:-12], ["y"], callbacks=[snapshots])
    before = forecaster.forecast(4)
    curve = validation_curve(snapshots, series, settings, test_steps=12)
    assert curve is not None and curve["loss"] == forecaster.losses
    assert len(curve["val_loss"]) == 3
    # By hand: the forecaster's own changes over the last 12 rows and their context, cut into
    # windows one by one; each target the `horizon` changes after its window.
    changes = forecaster.transform.forward(series[-(12 + 6 + 1) :])  # (18, 1)
    x = np.stack([changes[i : i + 6] for i in range(18 - 6 - 2 + 1)])  # (11, 6, 1)
    y = np.stack([changes[i + 6 : i + 8, 0] for i in range(11)])  # (11, 2)
    predicted = forecaster.model.predict(x.astype(np.float32), verbose=0)
    expected = float(np.mean((np.asarray(predicted, dtype=np.float64) - y) ** 2))
    np.testing.assert_allclose(curve["val_loss"][-1], expected, rtol=1e-5)
    np.testing.assert_allclose(forecaster.forecast(4), before)  # the weights were put back


def test_no_curve_without_a_recorded_fit() -> None:
    settings = ForecastSettings(look_back=6, horizon=2, epochs=1, units=[4])
    assert validation_curve(EpochSnapshots(), np.ones((40, 1)), settings, 12) is None
