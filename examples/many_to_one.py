"""Many-to-one: a sequence in, one number out. The LSTM learns the sum of 8 numbers.

x1 -> [LSTM] -> x2 -> [LSTM] -> ... -> x8 -> [LSTM] -> sum
"""

import numpy as np

from unrolled.layers import LSTM, Dense
from unrolled.models import Sequential
from unrolled.utils import set_random_seed

set_random_seed(0)
timesteps, data_dim = 8, 1
x = np.random.uniform(0, 1, (512, timesteps, data_dim)).astype("float32")
y = x.sum(axis=1)  # (samples, 1)

model = Sequential()
model.add(LSTM(32, input_shape=(timesteps, data_dim)))  # (samples, 32): the last step only
model.add(Dense(1))
model.compile(loss="mse", optimizer="adam")
model.fit(x, y, epochs=60, batch_size=32, verbose=0)

test = np.random.uniform(0, 1, (64, timesteps, data_dim)).astype("float32")
error = float(np.abs(model.predict(test, verbose=0) - test.sum(axis=1)).mean())
print(
    f"many-to-one: mean absolute error of the predicted sum {error:.3f} (sums range 0 to {timesteps})"
)
assert error < 0.25
