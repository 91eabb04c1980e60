"""Trains and predicts on a memory-mapped series; prints its resident memory as JSON.

Run by `test_lazy_windows.py` in a fresh process (`python lazy_memory_worker.py FILE`),
so that the peak resident size (VmHWM) is this run's alone. The baseline is taken after
imports and a warm-up fit on a small in-memory batch (which allocates the operators'
and optimizer's buffers), just before the memory-mapped run.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

import unrolled
from unrolled.data import WindowDataset

LOOK_BACK = 32
STRIDE = 997  # about 50,000 windows spread over the whole file


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def main(path: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = WindowDataset(path, look_back=LOOK_BACK, stride=STRIDE)
    features = data.features
    model = unrolled.Sequential(
        [unrolled.Input((LOOK_BACK, features)), unrolled.LSTM(8), unrolled.Dense(features)]
    )
    model.compile(optimizer="adam", loss="mse")
    warm_x = np.zeros((256, LOOK_BACK, features), np.float32)
    model.fit(warm_x, warm_x[:, -1], batch_size=64, epochs=1, verbose=0)
    model.predict(warm_x, batch_size=256, verbose=0)
    baseline = status_kib("VmRSS")

    history = model.fit(data, batch_size=64, epochs=1, steps_per_epoch=50, verbose=0)
    predictions = model.predict(data, batch_size=256, steps=20, verbose=0)
    print(
        json.dumps(
            {
                "baseline_kib": baseline,
                "peak_kib": status_kib("VmHWM"),
                "windows": len(data),
                "loss": history.history["loss"][0],
                "predictions": list(predictions.shape),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
