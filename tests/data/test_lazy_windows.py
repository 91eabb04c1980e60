"""`WindowDataset`: the samples of `windows(...)`, read on access from files or arrays.

Oracle: `unrolled.data.windows` on the same series (in memory). The memory test trains
and predicts on a 400 MB `.npy` file in a fresh process and bounds its peak resident
size (VmHWM) to 64 MB above its baseline after imports and a warm-up fit: the file is
more than five times that bound. Measured on a 2-core AMD EPYC: about 3 MB above the
baseline (a memory map, by comparison, grew by 350 MB for 640 shuffled windows).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import unrolled
from unrolled.data import WindowDataset, windows
from unrolled.errors import ConfigError, ShapeError

SERIES = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
OPTIONS = [
    {"look_back": 5},
    {"look_back": 4, "horizon": 3, "targets": 1},
    {"look_back": 6, "horizon": 2, "stride": 3, "targets": [2, 0]},
    {"look_back": 3, "stride": 4, "targets": [0, 1]},
]
PEAK_BOUND_MIB = 64


def _all(dataset: WindowDataset) -> tuple[np.ndarray, np.ndarray]:
    items = dataset.__getitems__(list(range(len(dataset))))
    return np.stack([x.numpy() for x, _ in items]), np.stack([y.numpy() for _, y in items])


@pytest.fixture
def npy(tmp_path: Path) -> Path:
    path = tmp_path / "series.npy"
    np.save(path, SERIES)
    return path


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: "-".join(f"{k}{v}" for k, v in o.items())
)
@pytest.mark.parametrize("source", ["file", "array", "memmap", "fortran_file"])
def test_windows_equal_the_in_memory_windows(
    tmp_path: Path, npy: Path, source: str, options: dict[str, Any]
) -> None:
    if source == "fortran_file":
        np.save(tmp_path / "f.npy", np.asfortranarray(SERIES))
    given = {
        "file": npy,
        "array": SERIES,
        "memmap": np.load(npy, mmap_mode="r"),
        "fortran_file": tmp_path / "f.npy",
    }[source]
    dataset = WindowDataset(given, **options)
    want_x, want_y = windows(SERIES, **options)
    got_x, got_y = _all(dataset)
    assert len(dataset) == len(want_x)
    np.testing.assert_array_equal(got_x, want_x)
    np.testing.assert_array_equal(got_y, want_y)
    x, y = dataset[-1]
    assert x.dtype == y.dtype == torch.float32
    assert (tuple(x.shape), tuple(y.shape)) == dataset.shapes
    np.testing.assert_array_equal(y.numpy(), want_y[-1])


def test_several_series_never_share_a_window(tmp_path: Path, npy: Path) -> None:
    one_d = np.arange(30, dtype=">f8")  # big-endian float64, one feature
    np.save(tmp_path / "one.npy", one_d)
    dataset = WindowDataset([tmp_path / "one.npy", one_d[:12], str(tmp_path / "one.npy")], 4)
    want_x, want_y = windows([one_d, one_d[:12], one_d], 4)
    got_x, got_y = _all(dataset)
    np.testing.assert_array_equal(got_x, want_x)
    np.testing.assert_array_equal(got_y, want_y)


def test_a_loader_batches_it_with_shuffled_indices(npy: Path) -> None:
    dataset = WindowDataset(npy, look_back=5)
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True)
    seen = torch.cat([x[:, 0, 0] for x, _ in loader])
    want = windows(SERIES, look_back=5).x[:, 0, 0]
    np.testing.assert_array_equal(np.sort(seen.numpy()), np.sort(want))


def test_pickling_keeps_the_path_not_the_data(tmp_path: Path) -> None:
    series = np.random.default_rng(1).normal(size=(10_000, 3)).astype(np.float32)  # 120 kB
    np.save(tmp_path / "long.npy", series)
    dataset = WindowDataset(tmp_path / "long.npy", look_back=5)
    dataset[0]  # opens the file
    pickled = pickle.dumps(dataset)
    assert len(pickled) < 2_000
    np.testing.assert_array_equal(pickle.loads(pickled)[7][0].numpy(), series[7:12])


def test_fit_and_predict_on_it_equal_fit_and_predict_on_the_windows(npy: Path) -> None:
    # Same seed, same shuffled batches: a Dataset is batched in the order arrays get.
    results = []
    for lazy in (True, False):
        torch.manual_seed(0)
        model = unrolled.Sequential([unrolled.Input((5, 3)), unrolled.LSTM(4), unrolled.Dense(3)])
        model.compile(optimizer="adam", loss="mse")
        if lazy:
            data = WindowDataset(npy, look_back=5)
            history = model.fit(data, batch_size=8, epochs=2, seed=4, verbose=0)
            predictions = model.predict(data, batch_size=16, verbose=0)
        else:
            x, y = windows(SERIES, look_back=5)
            history = model.fit(x, y, batch_size=8, epochs=2, seed=4, verbose=0)
            predictions = model.predict(x, batch_size=16, verbose=0)
        results.append((history.history["loss"], predictions))
    (lazy_loss, lazy_pred), (loss, pred) = results
    np.testing.assert_allclose(lazy_loss, loss, rtol=1e-6)
    np.testing.assert_allclose(lazy_pred, pred, rtol=1e-6, atol=1e-6)


def test_bad_series_are_refused_with_the_reason(tmp_path: Path, npy: Path) -> None:
    with pytest.raises(ShapeError, match="one window needs look_back \\+ horizon = 38 \\+ 3"):
        WindowDataset(npy, look_back=38, horizon=3)
    with pytest.raises(ShapeError, match="same number of features"):
        WindowDataset([npy, SERIES[:, :2]], look_back=3)
    with pytest.raises(ConfigError, match="no such file"):
        WindowDataset(tmp_path / "missing.npy", look_back=3)
    with pytest.raises(ConfigError, match="`targets`"):
        WindowDataset(npy, look_back=3, targets=5)
    with pytest.raises(ConfigError, match="look_back"):
        WindowDataset(npy, look_back=0)
    with pytest.raises(IndexError):
        WindowDataset(npy, look_back=5)[35]


def _write_large_npy(path: Path, rows: int, features: int) -> None:
    # Written in chunks with plain writes: neither this process nor the page cache's
    # mapping into it holds the whole array.
    rng = np.random.default_rng(0)
    chunk = 5_000_000
    with open(path, "wb") as file:
        header = {"descr": "<f4", "fortran_order": False, "shape": (rows, features)}
        np.lib.format.write_array_header_1_0(file, header)
        for start in range(0, rows, chunk):
            count = min(chunk, rows - start)
            file.write(rng.standard_normal((count, features), dtype=np.float32).tobytes())


def test_training_on_a_file_far_larger_than_the_memory_it_may_use(tmp_path: Path) -> None:
    path = tmp_path / "large.npy"
    _write_large_npy(path, rows=50_000_000, features=2)  # 400 MB
    size_mib = path.stat().st_size / 2**20
    assert size_mib > 5 * PEAK_BOUND_MIB
    worker = Path(__file__).with_name("lazy_memory_worker.py")
    done = subprocess.run(
        [sys.executable, str(worker), str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    grown_mib = (report["peak_kib"] - report["baseline_kib"]) / 1024
    assert grown_mib < PEAK_BOUND_MIB, report
    assert report["windows"] == (50_000_000 - 32 - 1) // 997 + 1
    assert np.isfinite(report["loss"]) and report["predictions"] == [5120, 2]
