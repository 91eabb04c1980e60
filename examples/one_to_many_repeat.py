"""One-to-many by repetition: one start value in, a ramp of 5 steps out.

x -> RepeatVector(5) -> x x x x x -> LSTM(return_sequences) -> y1 y2 y3 y4 y5
"""

import numpy as np

from unrolled.layers import LSTM, Dense, RepeatVector, TimeDistributed
from unrolled.models import Sequential
from unrolled.utils import set_random_seed

set_random_seed(0)
steps = 5
start = np.random.uniform(0, 1, (512, 1)).astype("float32")
ramp = (
    start[:, None, :] + 0.1 * np.arange(1, steps + 1, dtype="float32")[None, :, None]
)  # (samples, 5, 1)

model = Sequential()
model.add(RepeatVector(steps, input_shape=(1,)))  # (samples, 5, 1)
model.add(LSTM(16, return_sequences=True))  # (samples, 5, 16)
model.add(TimeDistributed(Dense(1)))  # (samples, 5, 1)
model.compile(loss="mse", optimizer="adam")
model.fit(start, ramp, epochs=80, batch_size=32, verbose=0)

generated = model.predict(np.array([[0.5]], dtype="float32"), verbose=0)[0, :, 0]
print(f"one-to-many: from 0.5 the model generates {generated.round(2)}")
assert np.allclose(generated, 0.5 + 0.1 * np.arange(1, steps + 1), atol=0.05)
