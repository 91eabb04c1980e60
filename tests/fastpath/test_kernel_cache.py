"""numba's disk cache never serves a kernel compiled from older sources of what it calls."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("numba")

from unrolled.compiled import jit  # noqa: E402

CALLEE = "import numba\n\n@numba.njit(cache=True)\ndef constant():\n    return {value}\n"
CALLER = textwrap.dedent(
    """
    import sys
    import numba
    from unrolled.compiled import jit
    from callee import constant

    def twice():
        return 2 * constant()

    keyed = sys.argv[1] == "keyed"
    if keyed:  # the digest of this program's sources stands in for the kernel modules'
        here = __import__("pathlib").Path(__file__).parent
        jit.kernel_sources_digest = lambda: jit.sources_digest(here.glob("*.py"))
        twice = jit.keyed_on_sources(numba.njit(cache=True)(twice))
    else:
        twice = numba.njit(cache=True)(twice)
    print(twice())
    """
)


def _run(folder: Path, mode: str) -> int:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(folder / "cache")}
    done = subprocess.run(
        [sys.executable, str(folder / "caller.py"), mode],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "mode, second",
    [
        # numba's own behaviour, not ours (two interpreters, ~10 s): only with -m slow.
        pytest.param("plain", 2, marks=pytest.mark.slow),
        ("keyed", 4),
    ],
)
def test_a_changed_callee_is_compiled_again_only_with_the_sources_in_the_key(
    tmp_path, mode, second
):
    # "plain" is numba alone: it loads the stale kernel (2 * 1), which is the defect the
    # key prevents; "keyed" compiles again and sees the new callee (2 * 2).
    (tmp_path / "callee.py").write_text(CALLEE.format(value=1))
    (tmp_path / "caller.py").write_text(CALLER)
    assert _run(tmp_path, mode) == 2
    (tmp_path / "callee.py").write_text(CALLEE.format(value=2))
    assert _run(tmp_path, mode) == second


def test_the_digest_covers_the_kernel_modules_and_the_cell_kinds():
    here = Path(jit.__file__).resolve().parent
    names = {p.name for p in here.glob("*.py")}
    assert {"cell_steps.py", "head_kernel.py", "codes.py", "fit_kernel.py"} <= names
    assert jit.kernel_sources_digest() == jit.sources_digest(
        [*here.glob("*.py"), here.parent / "ops" / "cell_kinds.py"]
    )


def test_the_digest_changes_with_any_byte(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    before = jit.sources_digest([a, b])
    b.write_text("y = 3\n")
    assert jit.sources_digest([a, b]) != before
