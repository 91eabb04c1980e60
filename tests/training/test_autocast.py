"""`compile(..., mixed_precision=...)`: autocast forward passes, float32 weights and outputs.

Oracle: the same model trained in float32 from the same weights on the same batches.
Tolerances (CPU, bfloat16): every epoch's loss within 1% (relative) of float32's, and
predictions after 5 epochs within 0.02 (absolute; the outputs' standard deviation is
0.07-0.15). Measured on a 2-core AMD EPYC: at most 1.2e-3 relative on the loss and 2.8e-3
on predictions; bfloat16 keeps 8 bits of mantissa (about 0.4% per rounding), and on CPU the
fused recurrent operators run in float32 (see `unrolled.ops.fused`), so only the Dense
layers round. CUDA tests (float16 with a GradScaler, bfloat16; 5x those tolerances, since
cuDNN runs the recurrence itself in the lower precision) are marked and skipped where no
GPU is present.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import unrolled
from unrolled.errors import ConfigError
from unrolled.training import Trainer
from unrolled.training.precision import MixedPrecision

LOSS_RTOL = 1e-2
PREDICTION_ATOL = 2e-2
EPOCHS = 5


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 12, 3)).astype(np.float32)
    y = (np.sin(x[:, -4:, :].sum(axis=(1, 2)))[:, None] * 0.5).astype(np.float32)
    return x, y


def _model(recurrent: Any = None) -> Any:
    torch.manual_seed(0)
    return unrolled.Sequential(
        [
            unrolled.Input((12, 3)),
            recurrent or unrolled.LSTM(16),
            unrolled.Dense(8, "tanh"),
            unrolled.Dense(1),
        ]
    )


def _train(
    mixed_precision: Any, recurrent: Any = None, device: str = "cpu"
) -> tuple[list[float], np.ndarray, Any]:
    x, y = _data()
    model = _model(recurrent).to(device)
    model.compile(optimizer="adam", loss="mse", mixed_precision=mixed_precision)
    history = model.fit(x, y, epochs=EPOCHS, batch_size=32, seed=1, verbose=0)
    return history.history["loss"], model.predict(x, verbose=0), model


def _assert_close_to_float32(
    got: tuple[Any, ...],
    want: tuple[Any, ...],
    loss_rtol: float = LOSS_RTOL,
    prediction_atol: float = PREDICTION_ATOL,
) -> None:
    np.testing.assert_allclose(got[0], want[0], rtol=loss_rtol)
    assert got[1].dtype == np.float32
    np.testing.assert_allclose(got[1], want[1], atol=prediction_atol)
    assert got[0][-1] < got[0][0]  # and it learns


def test_bfloat16_on_cpu_trains_like_float32_within_the_stated_tolerance() -> None:
    _assert_close_to_float32(_train("bfloat16"), _train(None))


def test_bfloat16_autocast_reaches_the_dense_layers_and_the_lstm_stays_fused() -> None:
    model = _model()
    model.compile(optimizer="adam", loss="mse", mixed_precision="mixed_bfloat16")
    seen = {}

    def record(module: Any, inputs: Any, output: torch.Tensor) -> None:
        # The hook runs inside the layer call: the dtype its matrix product gets there.
        seen["dense"] = (inputs[0] @ module.kernel).dtype

    model.layers[1].register_forward_hook(record)
    x, y = _data()
    model.fit(x[:32], y[:32], epochs=1, batch_size=32, verbose=0)
    assert seen["dense"] == torch.bfloat16
    assert model.layers[0].last_path.name == "fused"
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize(
    "recurrent",
    [
        lambda: unrolled.GRU(16),
        lambda: unrolled.SimpleRNN(16),
        lambda: unrolled.LSTM(16, use_cudnn=False),  # the step loop
    ],
    ids=["gru", "simple_rnn", "lstm-loop"],
)
def test_other_recurrent_paths_train_under_bfloat16(recurrent: Any) -> None:
    _assert_close_to_float32(_train("bfloat16", recurrent()), _train(None, recurrent()))


def test_masked_fused_path_runs_under_bfloat16_autocast() -> None:
    lstm = unrolled.LSTM(4, return_sequences=True)
    x = torch.randn(3, 6, 2)
    mask = torch.tensor([[0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]]).bool()
    want = lstm(x, mask=mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = lstm(x.to(torch.bfloat16), mask=mask)
    assert lstm.last_path.name == "fused-packed"
    torch.testing.assert_close(got.float(), want, atol=2e-2, rtol=0)


def test_predict_and_evaluate_return_float32_numbers() -> None:
    x, y = _data()
    trainer = Trainer(_model(), optimizer="sgd", loss="mse", mixed_precision="bfloat16")
    assert trainer.predict(x[:10], verbose=0).dtype == np.float32
    assert isinstance(trainer.evaluate(x[:10], y[:10], verbose=0), float)


@pytest.mark.parametrize(
    ("spec", "dtype"),
    [
        (None, None),
        ("float32", None),
        ("bfloat16", torch.bfloat16),
        ("mixed_float16", torch.float16),
        (torch.float16, torch.float16),
    ],
)
def test_policy_names(spec: Any, dtype: Any) -> None:
    policy = MixedPrecision.resolve(spec)
    assert (policy.dtype if policy else None) == dtype


def test_unknown_policy_is_refused_at_compile() -> None:
    with pytest.raises(ConfigError, match="'bfloat16', 'float16'"):
        _model().compile(optimizer="sgd", loss="mse", mixed_precision="half")


# ---- CUDA ------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mixed_precision", ["float16", "bfloat16"])
def test_cuda_mixed_precision_trains_like_float32(mixed_precision: str) -> None:
    # cuDNN runs the LSTM itself in the lower precision here (every step's state rounds), so
    # the tolerance is 5x the CPU one: 5% on the loss, 0.1 on predictions. Not measured on
    # the machine these tests were written on (it has no GPU).
    got = _train(mixed_precision, device="cuda")
    _assert_close_to_float32(got, _train(None, device="cuda"), 5 * LOSS_RTOL, 5 * PREDICTION_ATOL)
    scaler = got[2]._trainer.precision._scaler
    assert (scaler is not None) == (mixed_precision == "float16")  # GradScaler for float16 only
