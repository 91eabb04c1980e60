"""The matrix multiply the batched kernel calls: the MKL `sgemm` inside PyTorch's own library.

PyTorch's x86 builds link Intel MKL into `libtorch_cpu` and export its Fortran `sgemm_`, the
routine torch's own CPU matmuls use, and `MKL_Set_Num_Threads_Local` (the by-value C form;
the lowercase name is Fortran's, by reference). Importing this module registers their
addresses with LLVM under our names, so numba kernels call them as external symbols: the
kernels stay cacheable on disk (the cache holds the name; each process registers the
address again before loading). Builds without MKL (macOS, ARM) have no such symbols, and
the batched kernel declines with `missing()`'s reason.
"""

from __future__ import annotations

import ctypes
import os

import torch

GEMM_SYMBOL = "unrolled_mkl_sgemm"
THREADS_SYMBOL = "unrolled_mkl_set_num_threads_local"


def _register() -> str | None:
    """Registers MKL's symbols with LLVM; why not, or None when done."""
    folder = os.path.join(os.path.dirname(torch.__file__), "lib")
    for name in ("libtorch_cpu.so", "torch_cpu.dll", "libtorch_cpu.dylib"):
        try:
            library = ctypes.CDLL(os.path.join(folder, name))
            gemm, threads = library.sgemm_, library.MKL_Set_Num_Threads_Local
            break
        except (OSError, AttributeError):
            continue
    else:
        return "this PyTorch build exports no MKL sgemm (x86 Linux builds do)"
    import llvmlite.binding as llvm  # numba's own dependency

    llvm.add_symbol(GEMM_SYMBOL, ctypes.cast(gemm, ctypes.c_void_p).value)
    llvm.add_symbol(THREADS_SYMBOL, ctypes.cast(threads, ctypes.c_void_p).value)
    return None


def _declarations() -> tuple[object, object]:
    from numba import types

    pointer = types.intp  # addresses as integers: the same registers as pointers on x86-64
    # Fortran sgemm: every argument by reference (transa, transb, m, n, k, alpha, a, lda, b,
    # ldb, beta, c, ldc), 32-bit integers (MKL's LP64 interface).
    gemm = types.ExternalFunction(GEMM_SYMBOL, types.void(*([pointer] * 13)))
    threads = types.ExternalFunction(THREADS_SYMBOL, types.int32(types.int32))
    return gemm, threads


GEMM, SET_THREADS = _declarations()
_MISSING = _register()


def missing() -> str | None:
    """Why the kernels cannot call MKL's sgemm, or None when they can."""
    return _MISSING
