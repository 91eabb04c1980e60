"""The batched kernels' team under load: no more threads than free cores, the same results."""

from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.compiled import cpu_load, fit_plan, fit_runner
from unrolled.layers import LSTM, Dense, Input

pytest.importorskip("numba")


@pytest.mark.parametrize(
    "loadavg, limit, free",
    [
        ("0.50 0.40 0.30 1/120 999", 2, 2),  # only this thread runs
        ("1.90 1.80 1.70 2/120 999", 2, 1),  # one other: one core left
        ("5.00 4.00 3.00 9/120 999", 2, 1),  # more than the cores: still one
        ("0.50 0.40 0.30 1/120 999", 1, 1),  # never above the limit
    ],
)
def test_free_cores_counts_the_other_running_threads(tmp_path, monkeypatch, loadavg, limit, free):
    path = tmp_path / "loadavg"
    path.write_text(loadavg + "\n")
    monkeypatch.setattr(cpu_load, "LOADAVG", path)
    monkeypatch.setattr(cpu_load, "_own_running", lambda: 1)
    monkeypatch.setattr(cpu_load.os, "sched_getaffinity", lambda pid: {0, 1})
    assert cpu_load.free_cores(limit) == free


def test_this_processes_own_running_threads_are_not_another_programs_work(tmp_path, monkeypatch):
    """torch's OpenMP threads spin for a while after an operation, so /proc/loadavg counts
    them running: 3 running threads, all three this process's (one sleeping besides), leave
    both cores free. Counted then as others' work, the kernel ran on one thread after any
    torch operation (the contention benchmark's quiet phase read 1.2x instead of 3x)."""
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("2.00 1.00 1.00 3/120 999\n")
    tasks = tmp_path / "task"
    for tid, state in ((11, "R"), (12, "R"), (13, "R"), (14, "S")):
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (python (main)) {state} 1 2 3\n")
    monkeypatch.setattr(cpu_load, "LOADAVG", loadavg)
    monkeypatch.setattr(cpu_load, "TASKS", tasks)
    monkeypatch.setattr(cpu_load.os, "sched_getaffinity", lambda pid: {0, 1})
    assert cpu_load._own_running() == 3
    assert cpu_load.others_running() == 0
    assert cpu_load.free_cores(2) == 2


def test_a_team_of_one_reads_nothing(monkeypatch):
    """One thread needs no reading of the machine's load (three readings sleep a
    millisecond, 3% of a short epoch): free_cores(1) answers without them."""

    def fail() -> int:
        raise AssertionError("read /proc/loadavg for a team of one")

    monkeypatch.setattr(cpu_load, "others_running", fail)
    monkeypatch.setattr(cpu_load.time, "sleep", lambda seconds: fail())
    assert cpu_load.free_cores(1) == 1


def test_free_cores_keeps_the_limit_where_the_system_does_not_say(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_load, "LOADAVG", tmp_path / "absent")
    assert cpu_load.free_cores(2) == 2


def _fit(monkeypatch, free: int) -> tuple[list[np.ndarray], list[int]]:
    """A batched fit of 2 epochs with `free` cores free; the weights, and the team sizes
    its kernel calls ran on."""
    teams: list[int] = []
    monkeypatch.setattr(
        fit_runner, "free_cores", lambda limit: teams.append(min(limit, free)) or teams[-1]
    )
    monkeypatch.setattr(fit_plan, "MAX_WORK_PER_BATCH", 0)
    monkeypatch.setattr(fit_plan, "_threads_for", lambda rows, units: 2)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 5, 3)).astype(np.float32), rng.normal(size=(24, 1))
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([Input((5, 3)), LSTM(4), Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=0)
    assert "batched over 2 threads" in model.last_fit_path.reason
    return model.get_weights(), teams


def test_a_busy_machine_runs_the_same_parts_on_fewer_threads_with_the_same_results(monkeypatch):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba runs one thread here")
    before = numba.get_num_threads()
    quiet, quiet_teams = _fit(monkeypatch, 2)
    busy, busy_teams = _fit(monkeypatch, 1)
    assert quiet_teams and set(quiet_teams) == {2} and set(busy_teams) == {1}  # each call's
    assert numba.get_num_threads() == before  # numba's own setting put back
    for a, b in zip(quiet, busy):
        np.testing.assert_array_equal(a, b)  # bit for bit: the sums run in the same order
