"""Models name their tensors as torch.nn.Sequential does (`0.cell.kernel`), and files,
checkpoints and state dicts of the old layout (`_layers.0.cell.kernel`) still load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import unrolled
from unrolled import files, layers
from unrolled.saving import archive, serialization
from unrolled.training import checkpoint

X = np.random.default_rng(0).normal(size=(16, 5, 2)).astype("float32")
Y = np.random.default_rng(1).normal(size=(16, 1)).astype("float32")
OLD = "_layers."  # where Sequential and Model kept their layers up to unrolled 0.1.0


def _trained() -> unrolled.Sequential:
    unrolled.set_random_seed(5)
    model = unrolled.Sequential(
        [
            unrolled.Input((5, 2)),
            layers.LSTM(4, return_sequences=True),
            layers.GRU(3),
            layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    model.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return model


def _old_names(tensors: dict) -> dict:
    return {OLD + name: value for name, value in tensors.items()}


def _old_optimizer_state(model: unrolled.Sequential) -> tuple[dict, dict]:
    slots, info = checkpoint.optimizer_state(model._trainer.optimizer, model)
    for group in info["param_groups"]:
        group["params"] = [OLD + name for name in group["params"]]
    info["scalars"] = _old_names(info["scalars"])
    return _old_names(slots), info


def _save_in_the_old_layout(model: unrolled.Sequential, path: Path) -> None:
    # What model.save wrote up to 0.1.0: the same archive, every tensor name under `_layers.`.
    config = {
        "model": serialization.serialize_object(model, "model"),
        "compile_config": model.get_compile_config(),
    }
    slots, info = _old_optimizer_state(model)
    archive.write(
        path,
        config,
        files.tensors_to_bytes(_old_names(model.state_dict())),
        (files.tensors_to_bytes(slots), info),
    )


def _private_parts(names: list[str]) -> list[str]:
    return [name for name in names if any(part.startswith("_") for part in name.split("."))]


def test_sequential_and_model_name_tensors_by_layer_index_without_private_parts():
    sequential = unrolled.Sequential(
        [
            unrolled.Input((5, 2)),
            layers.Bidirectional(layers.LSTM(3, return_sequences=True, stateful=False)),
            layers.TimeDistributed(layers.Dense(2)),
            layers.RNN([layers.GRUCell(2), layers.SimpleRNNCell(2)]),
            layers.Dense(1),
        ]
    )
    inputs = unrolled.Input((5, 2))
    functional = unrolled.Model(inputs, layers.Dense(1)(layers.LSTM(4)(inputs)))
    nested = unrolled.Sequential([unrolled.Input((5, 2)), sequential, layers.Dense(2)])
    for model in (sequential, functional, nested):
        names = list(model.state_dict())
        assert names and not _private_parts(names), _private_parts(names)
    assert list(functional.state_dict()) == [
        "0.cell.bias",
        "0.cell.kernel",
        "0.cell.recurrent_kernel",
        "1.kernel",
        "1.bias",
    ]
    assert list(nested.state_dict())[0] == "0.0.forward_layer.cell.bias"
    assert [name for name, _ in sequential.named_children()] == ["0", "1", "2", "3"]
    assert sequential.get_submodule("1.layer") is sequential.layers[1].layer


def test_stateful_states_are_named_without_private_parts():
    model = unrolled.Sequential(
        [unrolled.Input(batch_shape=(4, 5, 2)), layers.LSTM(3, stateful=True), layers.Dense(1)]
    )
    model.predict(X[:4], batch_size=4, verbose=0)
    assert {"0.state_0", "0.state_1"} <= set(model.state_dict())


def test_a_model_file_of_the_old_layout_loads_predicts_and_trains_on_as_saved(tmp_path: Path):
    model = _trained()
    _save_in_the_old_layout(model, tmp_path / "old.unrolled")
    model.save(tmp_path / "new.unrolled")
    old = unrolled.load_model(tmp_path / "old.unrolled")
    new = unrolled.load_model(tmp_path / "new.unrolled")
    np.testing.assert_array_equal(old.predict(X, verbose=0), model.predict(X, verbose=0))
    # The optimizer's moments came back too: one more epoch lands where the new file's does.
    for each in (old, new):
        each.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(old.get_weights(), new.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_weights_file_of_the_old_layout_loads_with_stateful_states(tmp_path: Path):
    unrolled.set_random_seed(2)
    model = unrolled.Sequential(
        [unrolled.Input(batch_shape=(4, 5, 2)), layers.GRU(3, stateful=True), layers.Dense(1)]
    )
    model.predict(X[:4], batch_size=4, verbose=0)  # states now hold the batch's end
    path = tmp_path / "old.safetensors"
    files.write_bytes(path, files.tensors_to_bytes(_old_names(model.state_dict())))
    unrolled.set_random_seed(9)
    fresh = unrolled.Sequential(
        [unrolled.Input(batch_shape=(4, 5, 2)), layers.GRU(3, stateful=True), layers.Dense(1)]
    )
    fresh.load_weights(path)
    assert fresh.get_states()[fresh.layers[0].name][0].any()
    np.testing.assert_array_equal(
        fresh.predict(X[:4], batch_size=4, verbose=0),
        model.predict(X[:4], batch_size=4, verbose=0),
    )


def test_load_state_dict_takes_old_names_at_every_level_of_nesting():
    unrolled.set_random_seed(1)
    inner = unrolled.Sequential([unrolled.Input((5, 2)), layers.LSTM(3), layers.Dense(2)])
    inputs = unrolled.Input((5, 2))
    model = unrolled.Model(inputs, layers.Dense(1)(inner(inputs)))
    # Model's `_layers.0` was the inner Sequential, whose own layers were `_layers.0`, ...
    old = {
        (OLD + name.replace("0.", f"0.{OLD}", 1) if name.startswith("0.") else OLD + name): value
        for name, value in model.state_dict().items()
    }
    assert "_layers.0._layers.0.cell.kernel" in old
    unrolled.set_random_seed(8)
    copy = unrolled.Model.from_config(model.get_config())
    copy.load_state_dict({k: v.clone() for k, v in old.items()}, strict=True)
    for name, value in model.state_dict().items():
        assert torch.equal(copy.state_dict()[name], value), name


def test_an_optimizer_state_of_the_old_layout_loads_by_name():
    model = _trained()
    slots, info = _old_optimizer_state(model)
    unrolled.set_random_seed(4)
    other = unrolled.Sequential.from_config(model.get_config())
    other.compile("adam", "mse")
    other.load_state_dict(_old_names(model.state_dict()))
    optimizer = other._make_trainer().optimizer
    checkpoint.load_optimizer_state(optimizer, other, slots, info, "old checkpoint")
    moments = {name: optimizer.state[p] for name, p in other.named_parameters()}
    assert torch.equal(
        moments["1.cell.kernel"]["momentum"], slots["_layers.1.cell.kernel/momentum"]
    )


def test_a_name_the_module_never_had_is_still_refused():
    model = _trained()
    tensors = _old_names(model.state_dict())
    tensors["_layers.9.kernel"] = torch.zeros(1)
    with pytest.raises(unrolled.errors.FileFormatError, match="9.kernel"):
        unrolled.saving.weights.load_state(model, tensors, "weights")
