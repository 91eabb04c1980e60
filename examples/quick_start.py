"""Quick start: the seeds' airline recipe, in Keras's words, on PyTorch.

Windows of 3 months -> LSTM(4) -> Dense(1), trained on whole batches, then judged on
the last 24 months against the naive forecast ("next month = this month").
Run: `python examples/quick_start.py`.
"""

import numpy as np

from unrolled.datasets import airline_passengers
from unrolled.layers import LSTM, Dense
from unrolled.models import Sequential
from unrolled.optimizers import Adam
from unrolled.utils import set_random_seed

LOOK_BACK, TEST_MONTHS = 3, 24


def create_dataset(series: np.ndarray, look_back: int) -> tuple[np.ndarray, np.ndarray]:
    """X (samples, look_back) of consecutive values and y, the value after each window."""
    x = np.stack([series[i : i + look_back] for i in range(len(series) - look_back)])
    return x, series[look_back:]


set_random_seed(7)
series = airline_passengers()
low, high = series.values[:-TEST_MONTHS].min(), series.values[:-TEST_MONTHS].max()
scaled = (series.values - low) / (high - low)  # scaler fitted on the training months only

x, y = create_dataset(scaled, LOOK_BACK)
x = x.reshape(x.shape[0], LOOK_BACK, 1)  # [samples, time steps, features]
split = len(x) - TEST_MONTHS
print(f"series: {len(series.values)} months, {series.dates[0]} to {series.dates[-1]}")
print(f"X (samples, timesteps, features): {x[:split].shape} for training, {x[split:].shape} for testing")

model = Sequential()
model.add(LSTM(4, input_shape=(LOOK_BACK, 1)))
model.add(Dense(1))
model.compile(loss="mean_squared_error", optimizer=Adam(learning_rate=0.02))
model.fit(x[:split], y[:split], epochs=300, batch_size=128, verbose=0)
model.summary()

predicted = model.predict(x[split:], verbose=0)[:, 0] * (high - low) + low
actual = y[split:] * (high - low) + low
naive = x[split:, -1, 0] * (high - low) + low
rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
naive_rmse = float(np.sqrt(np.mean((naive - actual) ** 2)))
print(f"test RMSE over the last {TEST_MONTHS} months: LSTM {rmse:.1f}, naive {naive_rmse:.1f} (thousands of passengers)")
assert rmse < 1.2 * naive_rmse, "the LSTM should be about as good as the naive forecast or better"
