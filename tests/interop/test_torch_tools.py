"""PyTorch's own tools on models built from our layers, each against the eager model.

torch.export (static and dynamic batch), torch.onnx.export (dynamo and legacy, run in
onnxruntime), torch.jit.trace and torch.compile (training and predicting) must give the
eager numbers, and must leave the eager model as it was (nothing traced is kept).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

import unrolled
from unrolled.layers import GRU, LSTM, Bidirectional, Dense, Masking, SimpleRNN

T, F = 5, 3


def build(name: str) -> unrolled.Sequential:
    torch.manual_seed(0)
    first = unrolled.Input(batch_shape=(2, T, F)) if name == "stateful" else unrolled.Input((T, F))
    body = {
        "lstm": [LSTM(4)],
        "gru": [GRU(4, return_sequences=True)],
        "simple_rnn": [SimpleRNN(4, activation="relu")],
        "masked": [Masking(0.0), LSTM(4, return_sequences=True), GRU(3)],
        "bidirectional": [Bidirectional(LSTM(4))],
        "stateful": [LSTM(4, stateful=True)],
    }[name]
    return unrolled.Sequential([first, *body, Dense(1)]).eval()


def data(rows: int, seed: int = 1) -> torch.Tensor:
    x = torch.randn(rows, T, F, generator=torch.Generator().manual_seed(seed))
    x[0, :2] = 0.0  # a pre-padded row: masked steps for the Masking model
    return x


MODELS = ["lstm", "gru", "simple_rnn", "masked", "bidirectional", "stateful"]
DYNAMIC = [name for name in MODELS if name != "stateful"]  # stateful: a fixed batch


def stateful(model: unrolled.Sequential) -> bool:
    return any(getattr(layer, "stateful", False) for layer in model.layers)


def eager(model: unrolled.Sequential, x: torch.Tensor) -> np.ndarray:
    if stateful(model):
        model.reset_state()
    with torch.no_grad():
        return model(x).numpy()


@pytest.mark.parametrize("name", MODELS)
def test_export_equals_eager_and_leaves_the_eager_model_real(name):
    model = build(name)
    x = data(2)
    program = torch.export.export(model, (x,))  # the model's first call: nothing cached yet
    after = eager(model, x)
    assert type(model(x)) is torch.Tensor  # no FakeTensor kept from the export
    if stateful(model):
        model.reset_state()
    np.testing.assert_allclose(program.module()(x).detach().numpy(), after, atol=1e-6)


@pytest.mark.parametrize("name", DYNAMIC)
def test_export_with_a_dynamic_batch_equals_eager_at_other_batch_sizes(name):
    model = build(name)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (data(2),), dynamic_shapes=({0: batch},))
    for rows in (1, 7):
        x = data(rows, seed=rows)
        np.testing.assert_allclose(
            program.module()(x).detach().numpy(), eager(model, x), atol=1e-6
        )


def test_masked_calls_under_a_trace_run_the_step_loop_and_say_so():
    model = build("masked")
    torch.jit.trace(model, (data(2),), check_trace=False)  # the check would call it eagerly
    assert model.layers[1].last_path.name == "loop"
    assert "torch.export" in model.layers[1].last_path.reason
    eager(model, data(2))
    assert model.layers[1].last_path.name == "fused-packed"


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "legacy"])
@pytest.mark.parametrize("name", ["lstm", "masked", "bidirectional"])
def test_onnx_export_runs_in_onnxruntime_like_eager(name, dynamo):
    pytest.importorskip("onnxscript" if dynamo else "onnx")
    ort = pytest.importorskip("onnxruntime")
    model = build(name)
    buffer = io.BytesIO()
    options = {} if dynamo else {"dynamic_axes": {"x": {0: "batch"}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (data(2),), buffer, input_names=["x"], dynamo=dynamo, **options)
    session = ort.InferenceSession(buffer.getvalue())
    x = data(2, seed=5)
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, eager(model, x), atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_jit_trace_passes_its_checks_and_equals_eager(name):
    model = build(name)
    traced = torch.jit.trace(model, (data(2),))
    x = data(2, seed=3)
    if stateful(model):
        model.reset_state()
    got = traced(x).detach().numpy()
    np.testing.assert_allclose(got, eager(model, x), atol=1e-6)


def test_jit_script_is_refused_with_the_way_out():
    with pytest.raises(unrolled.ConfigError, match=r"torch.jit.trace.*torch.export"):
        torch.jit.script(build("lstm"))


@pytest.mark.parametrize("name", ["lstm", "masked"])
def test_torch_compile_trains_like_eager(name):
    x, y = data(4), torch.randn(4, 1, generator=torch.Generator().manual_seed(2))
    trained = []
    for compiled in (False, True):
        model = build(name).train()
        run = torch.compile(model) if compiled else model
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(3):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(run(x), y).backward()
            optimizer.step()
        trained.append([p.detach().clone() for p in model.parameters()])
        with torch.no_grad():
            np.testing.assert_allclose(run(x).numpy(), model(x).numpy(), atol=1e-6)
    for eager_weight, compiled_weight in zip(*trained):
        torch.testing.assert_close(compiled_weight, eager_weight, atol=1e-5, rtol=1e-5)
