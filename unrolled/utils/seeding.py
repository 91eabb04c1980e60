"""`set_random_seed`: one call makes a run repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch

from unrolled.errors import ConfigError


def set_random_seed(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's generators (CPU and CUDA), like `keras.utils.set_random_seed`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"`seed` must be an integer. Received: seed={seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))  # also seeds every CUDA device
