"""One-to-one: no sequence at all, so a Dense layer is the whole model (the seeds' first picture)."""

import numpy as np

from unrolled.layers import Dense
from unrolled.models import Sequential
from unrolled.optimizers import Adam
from unrolled.utils import set_random_seed

set_random_seed(0)
x = np.random.uniform(-1, 1, (256, 3)).astype("float32")
y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32") + 0.3

model = Sequential()
model.add(Dense(1, input_shape=(3,)))
model.compile(loss="mse", optimizer=Adam(learning_rate=0.05))
model.fit(x, y, epochs=100, batch_size=32, verbose=0)
kernel, bias = model.get_weights()
print(f"one-to-one: learned kernel {kernel.ravel().round(2)}, bias {bias.round(2)}")
assert np.allclose(kernel.ravel(), [1.0, -2.0, 0.5], atol=0.05) and abs(bias[0] - 0.3) < 0.05
