"""numba, when installed: the one JIT the compiled paths use, and why they decline without it.

Kernels are compiled on first use and cached on disk (numba's `cache=True`: next to this
package when it is writable, else in the user's cache directory; `NUMBA_CACHE_DIR`
overrides). numba compiles per argument types, not per shape, so the cost is paid once
per machine, not once per model.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from collections.abc import Callable, Iterable
from pathlib import Path
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

    return keyed_on_sources(numba.njit(cache=True, nogil=True, error_model="numpy")(function))


def inline_kernel(function: Callable[..., Any]) -> Callable[..., Any]:
    """`kernel` that numba compiles into each caller (`inline="always"`): for the small steps
    the epoch kernels call per row and timestep, where the cost of a call would show."""
    import numba

    return numba.njit(inline="always", nogil=True, error_model="numpy")(function)


def parallel_kernel(function: Callable[..., Any]) -> Callable[..., Any]:
    """`kernel` whose `numba.prange` loops run on numba's threads."""
    import numba

    return keyed_on_sources(
        numba.njit(cache=True, nogil=True, error_model="numpy", parallel=True)(function)
    )


def sources_digest(paths: Iterable[Path]) -> str:
    """SHA-256 over the files' names and contents, in name order."""
    hasher = hashlib.sha256()
    for path in sorted(paths):
        hasher.update(path.name.encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


@functools.cache
def kernel_sources_digest() -> str:
    """The digest of every module a kernel's machine code depends on: this package (kernels,
    the steps they inline, the codes they freeze in) and the cell kinds the codes come from."""
    here = Path(__file__).resolve().parent
    return sources_digest([*here.glob("*.py"), here.parent / "ops" / "cell_kinds.py"])


def keyed_on_sources(dispatcher: Any) -> Any:
    """`dispatcher` whose on-disk cache entries are also keyed on `kernel_sources_digest()`.

    numba keys a cached kernel on its own function's bytecode only, while the machine code
    also holds the functions it calls (`cell_steps.forward_step`, `head_kernel.head_row`)
    and the module constants it reads: after a change to one of those, numba would load the
    old kernel, a silent wrong answer. With the digest in the key it compiles again.
    """
    cache = getattr(dispatcher, "_cache", None)
    index_key = getattr(cache, "_index_key", None)
    if index_key is None:  # no disk cache (numba's internals moved): nothing stale to load
        return dispatcher
    digest = kernel_sources_digest()

    def index_key_with_sources(sig: Any, codegen: Any) -> tuple[Any, ...]:
        return (*index_key(sig, codegen), digest)

    cache._index_key = index_key_with_sources
    return dispatcher


def will_compile(dispatcher: Any) -> bool:
    """Whether numba compiles `dispatcher` on its next call: not yet loaded in this process,
    and nothing cached on disk for its current source. False when the cache can't be read."""
    if dispatcher.signatures:
        return False
    try:
        index = dispatcher._cache._cache_file._load_index()
        digest = kernel_sources_digest()  # entries of older sources do not count
        return not any(isinstance(key, tuple) and key[-1] == digest for key in index)
    except Exception:  # noqa: BLE001 - numba's cache internals moved: say nothing, not a guess
        return False
