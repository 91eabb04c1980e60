"""Hypothesis profiles for the robustness suite, and the tally it reports.

`ci` (the default) is derandomized: the same examples on every run and machine, a fixed
number per test (the suite's total stays above 1,000), no deadline (a shared CI core can
be slow). `thorough` draws ten times as many, freshly random each run:

    UNROLLED_HYPOTHESIS_PROFILE=thorough python -m pytest tests/robustness
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from robustness import contract

EXAMPLES = 40  # per test under `ci`

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=10 * EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("UNROLLED_HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if contract.TALLY["calls"]:
        terminalreporter.write_line(contract.summary())
