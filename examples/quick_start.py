"""Quick start: the seeds' airline recipe (look_back windows -> LSTM(4) -> a linear head).

Until `Sequential` and `fit` land, this trains with a plain PyTorch loop: our layers are
`torch.nn.Module`s. Run: `python examples/quick_start.py`.
"""

from __future__ import annotations

import numpy as np
import torch

import unrolled
from unrolled.datasets import airline_passengers

LOOK_BACK = 3
TEST_MONTHS = 24


def windows(series: np.ndarray, look_back: int) -> tuple[np.ndarray, np.ndarray]:
    """X (samples, look_back, 1) of consecutive values and y (samples, 1), the value after each window."""
    x = np.stack([series[i : i + look_back] for i in range(len(series) - look_back)])
    return x[:, :, None], series[look_back:, None]


class Forecaster(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = unrolled.LSTM(4, input_shape=(LOOK_BACK, 1))  # many-to-one: (samples, 4)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x))


def main() -> None:
    torch.manual_seed(7)
    series = airline_passengers()
    values = series.values
    low, high = (
        values[:-TEST_MONTHS].min(),
        values[:-TEST_MONTHS].max(),
    )  # scaler fit on training months only
    scaled = (values - low) / (high - low)

    x, y = windows(scaled, LOOK_BACK)
    split = len(x) - TEST_MONTHS
    x_train, y_train = torch.from_numpy(x[:split]), torch.from_numpy(y[:split])
    x_test, y_test = torch.from_numpy(x[split:]), y[split:]
    print(f"series: {len(values)} months, {series.dates[0]} to {series.dates[-1]}")
    print(
        f"X (samples, timesteps, features) = {tuple(x_train.shape)} for training, {tuple(x_test.shape)} for testing"
    )

    model = Forecaster()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _epoch in range(300):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x_train), y_train)
        loss.backward()
        optimizer.step()
    print(
        f"LSTM path: {model.lstm.last_path.name} ({model.lstm.last_path.reason}); "
        f"parameters: {model.lstm.count_params()} = 4 * (4 * (1 + 4) + 4)"
    )

    model.eval()
    with torch.no_grad():
        predicted = model(x_test).numpy() * (high - low) + low
    actual = y_test * (high - low) + low
    naive = x_test[:, -1, :].numpy() * (high - low) + low  # "next month equals this month"
    rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
    naive_rmse = float(np.sqrt(np.mean((naive - actual) ** 2)))
    print(
        f"test RMSE over the last {TEST_MONTHS} months: LSTM {rmse:.1f}, naive {naive_rmse:.1f} (thousands of passengers)"
    )


if __name__ == "__main__":
    main()
