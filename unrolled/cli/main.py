"""`unrolled COMMAND ...`: one line on stderr and a non-zero exit code for every error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from unrolled.cli.kernels import add_compile_kernels
from unrolled.cli.train import add_demo, add_fit
from unrolled.cli.use import add_evaluate, add_explain, add_forecast
from unrolled.errors import UnrolledError
from unrolled.version import __version__

EXIT_ERROR = 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="unrolled",
        description="Recurrent sequence models with Keras semantics on PyTorch: fit, forecast, explain.",
    )
    top.add_argument("--version", action="version", version=f"unrolled {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (add_demo, add_fit, add_forecast, add_evaluate, add_explain, add_compile_kernels):
        add(commands)
    for command in commands.choices.values():  # accepted after the command name
        command.add_argument("--debug", action="store_true", help="show the traceback of an error")
        command.add_argument("--quiet", action="store_true", help="print nothing but errors")
        command.add_argument(
            "--progress", action="store_true", help="progress bars even off a terminal"
        )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("unrolled: interrupted", file=sys.stderr)
        return 130
    except (UnrolledError, ValueError, TypeError, OSError, KeyError) as error:
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"unrolled {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
