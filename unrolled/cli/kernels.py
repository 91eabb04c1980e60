"""`unrolled compile-kernels`: build the compiled paths' kernels now (for images and CI caches)."""

from __future__ import annotations

import argparse

from unrolled.models import compile_kernels


def add_compile_kernels(commands: argparse._SubParsersAction) -> None:
    commands.add_parser(
        "compile-kernels",
        help="compile the fit and forecast kernels now, or check they load from numba's cache",
    ).set_defaults(run=run_compile_kernels)


def run_compile_kernels(args: argparse.Namespace) -> int:
    """One line per kernel; exit code 0 even where a path is unavailable (it says why)."""
    for name, result in compile_kernels().items():
        if not args.quiet:
            print(f"{name}: {result}")
    return 0
