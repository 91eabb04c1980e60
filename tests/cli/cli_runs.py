"""The two ways tests/cli runs the command line: in this process, and as `python -m unrolled`."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest

from unrolled.cli.main import main


def run_here(*args: str) -> tuple[int, str]:
    """`unrolled.cli.main.main(args)` in this process: its exit code and its stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse
            code = int(exit_.code or 0)
    return code, err.getvalue()


def run_in(where: str, *args: str) -> tuple[int, str]:
    """Exit code and stderr of `unrolled *args`, run "here" (`run_here`) or as a
    "subprocess" (`python -m unrolled`)."""
    if where == "here":
        return run_here(*args)
    result = subprocess.run(
        [sys.executable, "-m", "unrolled", *args], capture_output=True, text=True, timeout=300
    )
    return result.returncode, result.stderr


def in_both_places(cases: list[tuple[object, str]], end_to_end: set[int]) -> list[object]:
    """Each case run by `main` in this process, and in a subprocess (`python -m unrolled`).

    The subprocesses are slow (an interpreter and torch each): the cases at the indexes in
    `end_to_end` run there in the default run too, the others only with `-m slow`."""
    params = []
    for index, (case, message) in enumerate(cases):
        name = case if isinstance(case, str) else f"case{index}"
        slow = () if index in end_to_end else (pytest.mark.slow,)
        params.append(pytest.param(case, message, "here", id=f"{name}-here"))
        params.append(
            pytest.param(case, message, "subprocess", id=f"{name}-subprocess", marks=slow)
        )
    return params
