"""The contract every generated call is held to, and the tally the suite reports.

A call either works (and the test then compares its result with a reference computation)
or raises one of unrolled's errors: an `UnrolledError` that is also a ValueError or a
TypeError, whose message names the offending argument. Anything else (a RuntimeError from
inside torch, a NumPy TypeError, a StopIteration) escapes `attempt` and fails the test.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from unrolled.errors import UnrolledError

TALLY: Counter[str] = Counter()
CLASSES: set[str] = set()  # every kind of call the suite generated
REFUSED: set[str] = set()  # the kinds that were refused: the classes of bad input covered


@dataclass
class Worked:
    value: Any


@dataclass
class Refused:
    error: UnrolledError


def names_in(message: str, names: Iterable[str]) -> bool:
    """Whether `message` names one of `names` as a word (`x` is not in `expects`)."""
    return any(
        re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", message) for name in names
    )


def check_error(error: BaseException, names: Iterable[str]) -> None:
    """Asserts that `error` keeps the contract: ours, a ValueError/TypeError, naming one of `names`."""
    names = tuple(names)
    assert isinstance(error, UnrolledError), f"not an UnrolledError: {error!r}"
    assert isinstance(error, (ValueError, TypeError)), f"not a ValueError/TypeError: {error!r}"
    assert not isinstance(error, RuntimeError), f"a RuntimeError: {error!r}"
    assert names_in(str(error), names), f"{type(error).__name__} names none of {names}: {error}"


def attempt(kind: str, call: Callable[[], Any], *names: str) -> Worked | Refused:
    """Runs `call`: its result, or the unrolled error it raised (checked against the contract).

    `kind` is the class of bad input the call belongs to; `names` the argument names one
    of which a refusal must mention.
    """
    CLASSES.add(kind)
    TALLY["calls"] += 1
    try:
        value = call()
    except UnrolledError as error:
        check_error(error, names)
        TALLY["refused"] += 1
        REFUSED.add(kind)
        return Refused(error)
    except BaseException:
        TALLY["raw"] += 1
        raise
    TALLY["worked"] += 1
    return Worked(value)


def refused(kind: str, call: Callable[[], Any], *names: str) -> UnrolledError:
    """`call` must raise one of our errors naming one of `names`; returns it."""
    outcome = attempt(kind, call, *names)
    assert isinstance(outcome, Refused), f"{kind}: accepted, expected a refusal naming {names}"
    return outcome.error


def worked(kind: str, call: Callable[[], Any]) -> Any:
    """`call` must work; returns its result."""
    outcome = attempt(kind, call)
    assert isinstance(outcome, Worked), f"{kind}: refused valid input: {outcome.error}"
    return outcome.value


def counted(test: Callable[..., Any]) -> Callable[..., Any]:
    """Counts the examples a hypothesis test runs (put it under `@given`)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        TALLY["examples"] += 1
        return test(*args, **kwargs)

    return run


def summary() -> str:
    return (
        f"robustness: {TALLY['examples']} generated examples, {TALLY['calls']} calls of "
        f"{len(CLASSES)} kinds; {TALLY['worked']} worked and matched their reference, "
        f"{TALLY['refused']} were refused with unrolled errors naming the argument "
        f"({len(REFUSED)} classes of bad input); raw errors escaping: {TALLY['raw']}"
    )
