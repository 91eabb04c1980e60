"""Many-to-many where the output is shorter: keep the last N steps (the seeds' Lambda slice).

O O O          <- outputs for the last N = 3 steps
| | |
O O O O O O    <- LSTM over all 6 steps
"""

import numpy as np

from unrolled.layers import LSTM, Dense, Lambda, TimeDistributed
from unrolled.models import Sequential
from unrolled.utils import set_random_seed

set_random_seed(0)
timesteps, data_dim, N = 6, 1, 3
x = np.random.uniform(-1, 1, (512, timesteps, data_dim)).astype("float32")
y = x[:, -N:, :] + x[:, -N - 1 : -1, :]  # each of the last N steps plus the step before it

model = Sequential()
model.add(LSTM(16, input_shape=(timesteps, data_dim), return_sequences=True))  # (samples, 6, 16)
model.add(Lambda(lambda t: t[:, -N:, :]))  # select the last N steps: (samples, 3, 16)
model.add(TimeDistributed(Dense(1)))  # (samples, 3, 1)
model.compile(loss="mse", optimizer="adam")
model.fit(x, y, epochs=60, batch_size=32, verbose=0)

error = float(np.abs(model.predict(x, verbose=0) - y).mean())
print(
    f"many-to-many (last {N}): output shape {model.output_shape}, mean absolute error {error:.3f}"
)
assert model.output_shape == (None, N, 1) and error < 0.1
