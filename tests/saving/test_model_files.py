"""`model.save` / `unrolled.load_model` and `save_weights` / `load_weights`: nothing lost,
nothing half-loaded, writes that survive a crash, and clear errors for damaged files."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import unrolled
from unrolled import layers
from unrolled.errors import ConfigError, FileFormatError
from unrolled.saving import archive

X = np.random.default_rng(0).normal(size=(32, 5, 2)).astype("float32")
Y = np.random.default_rng(1).normal(size=(32, 1)).astype("float32")


def _model(dropout: float = 0.0, optimizer: object = "adam") -> unrolled.Sequential:
    unrolled.set_random_seed(3)
    model = unrolled.Sequential(
        [unrolled.Input((5, 2)), layers.LSTM(4, dropout=dropout), layers.Dense(1)]
    )
    model.compile(optimizer, "mse", metrics=["mae"])
    return model


def _max_difference(a: unrolled.Sequential, b: unrolled.Sequential) -> float:
    return max(float(np.abs(u - v).max()) for u, v in zip(a.get_weights(), b.get_weights()))


# -- compiled state: training continues as if never saved ------------------------------------


@pytest.mark.parametrize(
    "optimizer", ["adam", unrolled.optimizers.SGD(0.05, momentum=0.9, nesterov=True), "rmsprop"]
)
def test_fit_after_loading_matches_uninterrupted_training(
    optimizer: object, tmp_path: Path
) -> None:
    uninterrupted = _model(optimizer=optimizer)
    uninterrupted.fit(X, Y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    first = _model(optimizer=optimizer)
    first.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    first.save(tmp_path / "half.unrolled")
    resumed = unrolled.load_model(tmp_path / "half.unrolled")
    resumed.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert _max_difference(uninterrupted, resumed) <= 1e-6


def test_fit_after_loading_draws_the_same_shuffles_and_dropout(tmp_path: Path) -> None:
    # Two fit calls draw their own shuffling seeds from torch's generator; loading a model
    # leaves that generator as it was, so save/load in between changes nothing.
    plain = _model(dropout=0.3)
    plain.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    plain.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    saved = _model(dropout=0.3)
    saved.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    saved.save(tmp_path / "half.unrolled")
    resumed = unrolled.load_model(tmp_path / "half.unrolled")
    resumed.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    assert _max_difference(plain, resumed) <= 1e-6


def test_compile_config_and_optimizer_state_come_back(tmp_path: Path) -> None:
    model = _model(optimizer=unrolled.optimizers.Adam(learning_rate=0.02, clipnorm=1.0))
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    model._trainer.optimizer.learning_rate = 0.005  # as ReduceLROnPlateau would
    model.save(tmp_path / "m.unrolled")
    loaded = unrolled.load_model(tmp_path / "m.unrolled")
    assert loaded.get_compile_config() == model.get_compile_config()
    optimizer = loaded._trainer.optimizer
    assert optimizer.learning_rate == pytest.approx(0.005)
    assert optimizer.iterations == 4
    assert optimizer.clipnorm == 1.0
    before = model._trainer.optimizer.state_dict()["state"]
    after = optimizer.state_dict()["state"]
    for index, slots in before.items():
        for name, value in slots.items():
            torch.testing.assert_close(after[index][name], value, rtol=0, atol=0)
    logs = loaded.evaluate(X, Y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mae"}


def test_load_model_without_compile_and_without_optimizer(tmp_path: Path) -> None:
    model = _model()
    model.fit(X, Y, epochs=1, verbose=0)
    model.save(tmp_path / "m.unrolled", include_optimizer=False)
    with zipfile.ZipFile(tmp_path / "m.unrolled") as saved:
        assert archive.OPTIMIZER_TENSORS not in saved.namelist()
    assert unrolled.load_model(tmp_path / "m.unrolled")._trainer is not None
    uncompiled = unrolled.load_model(tmp_path / "m.unrolled", compile=False)
    assert uncompiled._compile_args is None
    np.testing.assert_array_equal(uncompiled.predict(X, verbose=0), model.predict(X, verbose=0))


def test_an_optimizer_object_from_torch_saves_the_model_uncompiled(tmp_path: Path) -> None:
    model = unrolled.Sequential([unrolled.Input((5, 2)), layers.LSTM(2), layers.Dense(1)])
    model.compile(torch.optim.SGD(model.parameters(), lr=0.1), "mse")
    with pytest.warns(UserWarning, match="uncompiled"):
        model.save(tmp_path / "m.unrolled")
    assert unrolled.load_model(tmp_path / "m.unrolled")._compile_args is None


# -- stateful layers keep their states (Keras loses them) -----------------------------------------


def test_stateful_states_are_saved_and_restored(tmp_path: Path) -> None:
    model = unrolled.Sequential(
        [unrolled.Input(batch_shape=(4, 3, 2)), layers.GRU(3, stateful=True), layers.Dense(1)]
    )
    chunk = np.random.default_rng(2).normal(size=(4, 3, 2)).astype("float32")
    model.predict(chunk, batch_size=4, verbose=0)
    model.save(tmp_path / "s.unrolled")
    loaded = unrolled.load_model(tmp_path / "s.unrolled")
    for name, states in model.get_states().items():
        for a, b in zip(states, loaded.get_states()[name]):
            np.testing.assert_array_equal(a, b)
    # The next chunk continues from the saved states in both.
    np.testing.assert_array_equal(
        loaded.predict(chunk, batch_size=4, verbose=0),
        model.predict(chunk, batch_size=4, verbose=0),
    )


def test_states_of_a_layer_that_made_them_at_its_first_batch(tmp_path: Path) -> None:
    model = unrolled.Sequential([layers.LSTM(2, stateful=True), layers.Dense(1)])
    model.predict(np.ones((3, 4, 1), "float32"), batch_size=3, verbose=0)
    model.save_weights(tmp_path / "w.safetensors")
    fresh = unrolled.Sequential([layers.LSTM(2, stateful=True), layers.Dense(1)])
    fresh.build((None, None, 1))
    fresh.load_weights(tmp_path / "w.safetensors")
    assert fresh.stateful_batch_size == 3
    np.testing.assert_array_equal(
        fresh.get_states()[fresh.layers[0].name][1], model.get_states()[model.layers[0].name][1]
    )


# -- weights alone ----------------------------------------------------------------------------------


def test_save_weights_and_load_weights(tmp_path: Path) -> None:
    source, target = _model(), _model()
    source.fit(X, Y, epochs=1, verbose=0)
    source.save_weights(tmp_path / "w.safetensors")
    target.load_weights(tmp_path / "w.safetensors")
    assert _max_difference(source, target) == 0
    from safetensors.torch import load_file  # the file is plain safetensors

    assert set(load_file(str(tmp_path / "w.safetensors"))) == set(source.state_dict())


def test_load_weights_from_a_model_file(tmp_path: Path) -> None:
    source, target = _model(), _model()
    source.fit(X, Y, epochs=1, verbose=0)
    source.save(tmp_path / "m.unrolled")
    target.load_weights(tmp_path / "m.unrolled")
    assert _max_difference(source, target) == 0


def test_load_weights_of_another_architecture_changes_nothing(tmp_path: Path) -> None:
    other = unrolled.Sequential([unrolled.Input((5, 2)), layers.LSTM(4), layers.Dense(2)])
    other.save_weights(tmp_path / "w.safetensors")
    model = _model()
    before = model.get_weights()
    with pytest.raises(
        FileFormatError,
        match=r"'1.kernel' \(layer 'dense.*', kernel\) has shape \(4, 2\); the model expects \(4, 1\)",
    ):
        model.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the LSTM's weights, which did fit, were not copied


def test_load_weights_skip_mismatch_loads_what_fits(tmp_path: Path) -> None:
    other = unrolled.Sequential([unrolled.Input((5, 2)), layers.LSTM(4), layers.Dense(2)])
    other.save_weights(tmp_path / "w.safetensors")
    model = _model()
    with pytest.warns(UserWarning, match="skipped 2"):
        model.load_weights(tmp_path / "w.safetensors", skip_mismatch=True)
    np.testing.assert_array_equal(
        model.layers[0].get_weights()[0], other.layers[0].get_weights()[0]
    )


@pytest.mark.parametrize("name", ["m.keras", "m.h5"])
def test_keras_suffixes_write_our_format_with_a_warning(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unrolled.models import model_files

    monkeypatch.setattr(model_files, "_WARNED", set())  # warned once per process
    model = _model()
    with pytest.warns(UserWarning, match="Keras cannot read it"):
        model.save(tmp_path / name)
    np.testing.assert_array_equal(
        unrolled.load_model(tmp_path / name).predict(X, verbose=0), model.predict(X, verbose=0)
    )
    with pytest.warns(UserWarning, match="safetensors"):
        model.save_weights(tmp_path / "w.weights.h5")
    model.load_weights(tmp_path / "w.weights.h5")


def test_overwrite_false_refuses_an_existing_file(tmp_path: Path) -> None:
    model = _model()
    model.save(tmp_path / "m.unrolled")
    with pytest.raises(ConfigError, match="overwrite=False"):
        model.save(tmp_path / "m.unrolled", overwrite=False)


# -- what cannot be saved is refused at save time -----------------------------------------------------


def test_lambda_with_a_python_function_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    model = unrolled.Sequential(
        [unrolled.Input((5, 2)), layers.LSTM(3), layers.Lambda(lambda x: x * 2)]
    )
    with pytest.raises(ConfigError, match=r"Python function '.*<lambda>'.*register_serializable"):
        model.save(tmp_path / "m.unrolled")
    assert os.listdir(tmp_path) == []


def test_registered_functions_and_layers_round_trip(tmp_path: Path) -> None:
    @unrolled.saving.register_serializable(package="ModelFiles")
    def halve(x: torch.Tensor) -> torch.Tensor:
        return x / 2

    @unrolled.saving.register_serializable(package="ModelFiles")
    class Scale(unrolled.Layer):
        def __init__(self, factor: float = 1.0, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.factor = factor

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return inputs * self.factor

        def compute_output_shape(self, input_shape: tuple) -> tuple:
            return tuple(input_shape)

        def get_config(self) -> dict:
            return {**super().get_config(), "factor": self.factor}

    model = unrolled.Sequential(
        [
            unrolled.Input((5, 2)),
            layers.LSTM(3),
            layers.Lambda(halve),
            Scale(3.0),
            layers.Dense(1, activation=halve),
        ]
    )
    model.save(tmp_path / "m.unrolled")
    loaded = unrolled.load_model(tmp_path / "m.unrolled")
    assert isinstance(loaded.layers[2], Scale) and loaded.layers[2].factor == 3.0
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_custom_objects_rebuild_an_unregistered_layer(tmp_path: Path) -> None:
    class Shift(unrolled.Layer):
        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return inputs + 1

        def compute_output_shape(self, input_shape: tuple) -> tuple:
            return tuple(input_shape)

    model = unrolled.Sequential([unrolled.Input((5, 2)), Shift(), layers.LSTM(2)])
    model.save(tmp_path / "m.unrolled")
    with pytest.raises(FileFormatError, match=r"unknown class .*Shift.*custom_objects"):
        unrolled.load_model(tmp_path / "m.unrolled")
    loaded = unrolled.load_model(tmp_path / "m.unrolled", custom_objects={"Shift": Shift})
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


# -- damaged files: a clear error, never a half-loaded model ---------------------------------------


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "m.unrolled"
    _model().save(path)
    return path


def _rewrite(path: Path, edit: dict[str, bytes | None]) -> None:
    # Rewrites members (None drops one), keeping metadata's checksums unless it is edited itself.
    with zipfile.ZipFile(path) as source:
        members = {name: source.read(name) for name in source.namelist()}
    for name, data in edit.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    if archive.METADATA not in edit:
        metadata = json.loads(members[archive.METADATA])
        import hashlib

        metadata["members"] = {
            n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for n, d in members.items()
            if n != archive.METADATA
        }
        members[archive.METADATA] = json.dumps(metadata).encode()
    with open(path, "wb") as file:
        archive.write_members(file, members)


def test_a_file_from_a_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as source:
        metadata = json.loads(source.read(archive.METADATA))
    metadata["format_version"] = archive.FORMAT_VERSION + 1
    _rewrite(path, {archive.METADATA: json.dumps(metadata).encode()})
    with pytest.raises(
        FileFormatError, match=r"format version 2 .*reads format versions up to 1.*Upgrade"
    ):
        unrolled.load_model(path)


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    data = path.read_bytes()
    for keep in (len(data) // 3, len(data) - 30):
        path.write_bytes(data[:keep])
        with pytest.raises(FileFormatError, match="truncated|corrupted"):
            unrolled.load_model(path)


def test_a_corrupted_byte_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as source:
        info = source.getinfo(archive.WEIGHTS)
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside the stored weights
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="corrupted|CRC"):
        unrolled.load_model(path)


def test_a_missing_tensor_is_named(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    from safetensors.torch import load, save

    with zipfile.ZipFile(path) as source:
        tensors = load(source.read(archive.WEIGHTS))
    del tensors["0.cell.recurrent_kernel"]
    _rewrite(path, {archive.WEIGHTS: save(tensors)})
    with pytest.raises(
        FileFormatError,
        match=r"missing 1 tensor.*'0.cell.recurrent_kernel' \(layer 'lstm.*', cell.recurrent_kernel\)",
    ):
        unrolled.load_model(path)


def test_a_tensor_of_the_wrong_shape_is_named(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    from safetensors.torch import load, save

    with zipfile.ZipFile(path) as source:
        tensors = load(source.read(archive.WEIGHTS))
    tensors["1.kernel"] = torch.zeros(5, 1)
    _rewrite(path, {archive.WEIGHTS: save(tensors)})
    with pytest.raises(
        FileFormatError,
        match=r"'1.kernel' \(layer 'dense.*', kernel\) has shape \(5, 1\); the model expects \(4, 1\)",
    ):
        unrolled.load_model(path)


def test_a_missing_member_is_named(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    _rewrite(path, {archive.WEIGHTS: None})
    with pytest.raises(FileFormatError, match="missing model.safetensors"):
        unrolled.load_model(path)


def test_a_keras_file_points_to_the_importer(tmp_path: Path) -> None:
    keras_zip = tmp_path / "model.keras"
    with zipfile.ZipFile(keras_zip, "w") as out:
        out.writestr("metadata.json", "{}")
        out.writestr("config.json", "{}")
        out.writestr("model.weights.h5", b"")
    with pytest.raises(FileFormatError, match="from_keras"):
        unrolled.load_model(keras_zip)
    hdf5 = tmp_path / "model.h5"
    hdf5.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(FileFormatError, match="from_keras"):
        unrolled.load_model(hdf5)


def test_a_weights_file_given_to_load_model_says_so(tmp_path: Path) -> None:
    _model().save_weights(tmp_path / "w.safetensors")
    with pytest.raises(FileFormatError, match="load_weights"):
        unrolled.load_model(tmp_path / "w.safetensors")


# -- atomic writes --------------------------------------------------------------------------------


def test_a_crash_mid_save_leaves_the_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _saved(tmp_path)
    before = path.read_bytes()
    original = archive.write_members

    def crash_halfway(file, members):  # type: ignore[no-untyped-def]
        half = dict(list(members.items())[:2])
        original(file, half)  # some bytes reach the temporary file...
        raise OSError("disk full")  # ...then the writer dies

    monkeypatch.setattr(archive, "write_members", crash_halfway)
    model = _model()
    model.fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.unrolled"]  # no temporary file left behind
    unrolled.load_model(path)


def test_a_crash_mid_save_weights_leaves_the_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    before = path.read_bytes()

    def crash(file, data):  # type: ignore[no-untyped-def]
        file.write(data[: len(data) // 2])
        raise KeyboardInterrupt

    import unrolled.files as files

    monkeypatch.setattr(
        files, "write_bytes", lambda p, data: files.atomic_write(p, lambda f: crash(f, data))
    )
    with pytest.raises(KeyboardInterrupt):
        model.save_weights(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]
