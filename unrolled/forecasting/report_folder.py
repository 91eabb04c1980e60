"""`atomic_folder`: a folder written whole or not at all.

The files go to a temporary sibling folder (same file system); only when every file is
written does it replace the target, by renames with Ctrl-C (SIGINT) and SIGTERM held back,
so an interruption leaves either the old folder or the new one, never a mix of the two.

    >>> with atomic_folder("report") as out:  # doctest: +SKIP
    ...     (out / "metrics.json").write_text("{}")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from unrolled.errors import ConfigError

# Seconds to sleep after each file while a report is written: tests interrupt a slow write.
SLOW_WRITE_ENV = "UNROLLED_TEST_SLOW_REPORT"
# A folder holding one of these is a report, and may be replaced.
REPORT_MARKERS = ("metrics.json", "index.html", "forecast.csv")


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary folder beside `target`; on success it becomes `target`.

    Raises:
        ConfigError: `target` is a file, or a non-empty folder that is not a report (it is
            never deleted: only report folders are replaced).
    """
    final = Path(target)
    if final.exists() and not final.is_dir():
        raise ConfigError(f"--out {final} is a file; expected a folder for the report.")
    if final.is_dir() and any(final.iterdir()):
        if not any((final / name).is_file() for name in REPORT_MARKERS):
            raise ConfigError(
                f"--out {final} is a folder that holds no report (no metrics.json); choose a "
                "new folder, or empty that one, so that none of its files are replaced."
            )
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    temporary.chmod(0o777 & ~umask)  # mkdtemp's 0700 would outlive the rename
    try:
        yield temporary
        _swap(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def pause_for_tests() -> None:
    """Sleeps `UNROLLED_TEST_SLOW_REPORT` seconds if set (a hook to interrupt a write)."""
    seconds = os.environ.get(SLOW_WRITE_ENV)
    if seconds:
        time.sleep(float(seconds))


def _swap(temporary: Path, final: Path) -> None:
    held = (signal.SIGINT, signal.SIGTERM)
    can_hold = hasattr(signal, "pthread_sigmask")
    if can_hold:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.rename(final, old / final.name)
            os.rename(temporary, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(temporary, final)
    finally:
        if can_hold:  # a signal that came meanwhile is delivered now, after the swap
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
