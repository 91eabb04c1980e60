"""The seeds' airline workload, shared by `airline_fit.py` and `fast_paths.py`.

The tutorial's data (min-max scaling, the first 67% for training, windows of 3 months) and
what a PyTorch user writes by hand for it: one sample per step, `(h, c)` carried and detached.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import unrolled

LOOK_BACK = 3


def airline_windows() -> tuple[np.ndarray, np.ndarray]:
    """`x (samples, 3, 1)` and `y (samples, 1)` from the scaled training part."""
    values = unrolled.datasets.airline_passengers().values
    scaled = ((values - values.min()) / (values.max() - values.min())).astype(np.float32)
    train = scaled[: int(len(scaled) * 0.67)]
    x = np.stack([train[i : i + LOOK_BACK] for i in range(len(train) - LOOK_BACK - 1)])[:, :, None]
    return x, train[LOOK_BACK : len(train) - 1, None]


def hand_loop_fit(x: np.ndarray, y: np.ndarray, epochs: int, units: int = 4) -> float:
    """Seconds for `epochs` of the hand loop: torch.nn.LSTM + Linear, Adam, batch size 1."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(x.shape[2], units, batch_first=True)
    head = torch.nn.Linear(units, y.shape[1])
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3, eps=1e-7)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    start = time.perf_counter()
    for _ in range(epochs):
        state = (torch.zeros(1, 1, units), torch.zeros(1, 1, units))
        for i in range(len(xs)):
            optimizer.zero_grad()
            out, state = lstm(xs[i : i + 1], state)
            loss = torch.nn.functional.mse_loss(head(out[:, -1]), ys[i : i + 1])
            loss.backward()
            optimizer.step()
            state = (state[0].detach(), state[1].detach())
    return time.perf_counter() - start
