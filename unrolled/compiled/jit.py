"""numba, when installed: the one JIT the compiled paths use, and why they decline without it.

Kernels are compiled on first use and cached on disk (numba's `cache=True`: next to this
package when it is writable, else in the user's cache directory; `NUMBA_CACHE_DIR`
overrides). numba compiles per argument types, not per shape, so the cost is paid once
per machine, not once per model.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from unrolled.training.fast_path import switched_off

# An optional dependency (`pip install "unrolled[fast]"`), imported only when a kernel is
# first needed: `import unrolled` does not pay for it.
NUMBA_FOUND = importlib.util.find_spec("numba") is not None


def unavailable() -> str | None:
    """Why no compiled path can run, or None when one can."""
    if (switch := switched_off()) is not None:
        return switch
    if not NUMBA_FOUND:
        return 'numba is not installed (pip install "unrolled[fast]")'
    return None


def kernel(function: Callable[..., Any]) -> Callable[..., Any]:
    """`numba.njit` with an on-disk cache and IEEE arithmetic (no fastmath: same math as torch)."""
    import numba  # only kernel modules call this, and only once a plan has accepted

    return numba.njit(cache=True, nogil=True, error_model="numpy")(function)


def parallel_kernel(function: Callable[..., Any]) -> Callable[..., Any]:
    """`kernel` whose `numba.prange` loops run on numba's threads."""
    import numba

    return numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)(function)


def will_compile(dispatcher: Any) -> bool:
    """Whether numba compiles `dispatcher` on its next call: not yet loaded in this process,
    and nothing cached on disk for its current source. False when the cache can't be read."""
    if dispatcher.signatures:
        return False
    try:
        return not dispatcher._cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - numba's cache internals moved: say nothing, not a guess
        return False
