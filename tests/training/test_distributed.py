"""Data-parallel fit over two processes equals single-process fit on the same global batches.

Oracle: the same scenario functions (`distributed_worker.py`) run in this process, alone.
Two processes are started with torchrun on loopback (gloo backend, CPU), once for the
module: every scenario runs in that one launch (about 15 s on two cores).
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import distributed_worker
import numpy as np
import pytest
import torch
import torch.distributed as dist

import unrolled
from unrolled.errors import ConfigError
from unrolled.training import distributed
from unrolled.training.distributed import Replicas, split

TOL = {"rtol": 1e-5, "atol": 1e-5}

needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each rank's results from `torchrun --nproc_per_node=2`, and the single-process ones."""
    out = tmp_path_factory.mktemp("distributed")
    env = {k: v for k, v in os.environ.items() if k not in distributed.TORCHRUN_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        str(Path(distributed_worker.__file__)),
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [pickle.loads((out / f"rank{r}.pkl").read_bytes()) for r in range(2)]
    alone = out / "alone"
    alone.mkdir()
    single = {name: run(alone) for name, run in distributed_worker.SCENARIOS.items()}
    return {"ranks": ranks, "single": single, "out": out, "stdout": done.stdout}


def _assert_same_training(got: dict[str, Any], want: dict[str, Any]) -> None:
    for a, b in zip(got["weights"], want["weights"], strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    assert sorted(got["history"]) == sorted(want["history"])
    for key, values in want["history"].items():
        np.testing.assert_allclose(got["history"][key], values, **TOL)


@needs_gloo
@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("scenario", ["sequential_lstm", "stateful_lstm", "dataset_input"])
def test_two_processes_train_like_one_on_the_same_global_batches(
    launched: dict[str, Any], scenario: str, rank: int
) -> None:
    # Weights and every epoch's logs (loss, metrics, validation) to 1e-5, on both ranks:
    # ragged last batches (one process running a weight-0 row), shuffling, validation,
    # EarlyStopping, a Dataset, and a stateful LSTM whose rows are split over processes.
    _assert_same_training(launched["ranks"][rank][scenario], launched["single"][scenario])


@needs_gloo
def test_stateful_states_are_gathered_back_to_the_full_batch(launched: dict[str, Any]) -> None:
    # By layer order: automatic layer names count the layers made in each process.
    want = list(launched["single"]["stateful_lstm"]["states"].values())
    for rank in (0, 1):
        got = list(launched["ranks"][rank]["stateful_lstm"]["states"].values())
        assert len(got) == len(want) == 1
        for a, b in zip(got[0], want[0], strict=True):
            assert a.shape == b.shape == (4, 6)
            np.testing.assert_allclose(a, b, **TOL)


@needs_gloo
def test_only_rank_zero_writes_checkpoints_and_csv_logs(launched: dict[str, Any]) -> None:
    out = launched["out"]
    assert (out / "log_rank0.csv").exists() and (out / "ckpt_rank0.pt").exists()
    assert not (out / "log_rank1.csv").exists() and not (out / "ckpt_rank1.pt").exists()


@needs_gloo
def test_a_stop_asked_on_one_process_stops_every_process(launched: dict[str, Any]) -> None:
    first, second = (r["stop_on_one_process"] for r in launched["ranks"])
    assert len(first["history"]["loss"]) == len(second["history"]["loss"]) == 1
    for a, b in zip(first["weights"], second["weights"], strict=True):
        np.testing.assert_array_equal(a, b)


# ---- without processes -------------------------------------------------------------------


def test_split_gives_contiguous_parts_as_even_as_possible() -> None:
    assert [split(10, r, 3) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]
    assert [split(1, r, 2) for r in range(2)] == [(0, 1), (1, 1)]


def test_plan_gives_an_empty_part_one_stand_in_row_of_weight_zero() -> None:
    replicas = object.__new__(Replicas)
    replicas.rank, replicas.world_size = 1, 2
    plan = replicas.plan(num_samples=33, batch_size=16, order=torch.arange(33).flip(0))
    assert plan.rows == [8, 8, 0] and plan.totals == [16, 16, 1]
    assert plan.indices[0].tolist() == list(range(24, 16, -1))
    assert plan.indices[2].tolist() == [0]  # the last batch's one row, run with weight 0


def test_auto_without_torchrun_trains_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert distributed.setup(torch.nn.Linear(2, 1), "auto") is None
    assert distributed.setup(torch.nn.Linear(2, 1), False) is None


def test_distributed_true_without_a_process_group_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    model = unrolled.Sequential([unrolled.Input((3,)), unrolled.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32)
    with pytest.raises(ConfigError, match="torchrun --nproc_per_node"):
        model.fit(x, y, distributed=True, verbose=0)
    with pytest.raises(ConfigError, match="`distributed` must be True, False or 'auto'"):
        model.fit(x, y, distributed="yes", verbose=0)
