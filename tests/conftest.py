"""Test-suite setup shared by every test directory (and one torch thread, see below).

Keras is the reference the layers are compared with, and it must run on its torch
backend: the variable is set here, before any test module imports Keras. The tests
directory goes on `sys.path` so tests can `from oracles import keras_oracle`.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

# One torch thread: the test models are small, and on a busy 2-core machine two threads
# spin-wait on each other (a 12x slowdown measured). UNROLLED_TEST_THREADS overrides it.
import pytest  # noqa: E402
import torch  # noqa: E402

THREADS = int(os.environ.get("UNROLLED_TEST_THREADS", "1"))
torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Puts torch back to THREADS after each test. A test that changes the count (the CLI's
    `main` sets it from --threads; a compiled fit once left it at 2) made every later test
    in the process run up to 10x slower on a busy machine."""
    yield
    if torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)
