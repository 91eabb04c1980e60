"""The `kernel` fixture: which epoch kernel `fit` gets in the compiled-path tests."""

from __future__ import annotations

import pytest

from unrolled.compiled import fit_plan


def _batched_kernel_missing() -> str | None:
    from unrolled.compiled import blas

    return blas.missing()


@pytest.fixture(params=["rows", "batched"])
def kernel(request, monkeypatch):
    """Which epoch kernel `fit` gets: the row-by-row one, or the batched one on two threads."""
    if request.param == "batched":
        missing = _batched_kernel_missing()
        if missing is not None:
            pytest.skip(missing)
        monkeypatch.setattr(fit_plan, "MAX_WORK_PER_BATCH", 0)
        monkeypatch.setattr(fit_plan, "_threads_for", lambda rows, units: 2)
    return request.param
