"""Many-to-many, same length: one label per step. Is the running sum so far above 2?

x1 -> [LSTM] -> y1,  x2 -> [LSTM] -> y2, ...   (return_sequences=True + TimeDistributed(Dense))
"""

import numpy as np

from unrolled.layers import LSTM, Dense, TimeDistributed
from unrolled.models import Sequential
from unrolled.optimizers import Adam
from unrolled.utils import set_random_seed

set_random_seed(0)
timesteps = 10
x = np.random.uniform(0, 0.5, (512, timesteps, 1)).astype("float32")
y = (np.cumsum(x, axis=1) > 2.0).astype("float32")  # (samples, timesteps, 1)

model = Sequential()
model.add(LSTM(16, input_shape=(timesteps, 1), return_sequences=True))  # (samples, timesteps, 16)
model.add(TimeDistributed(Dense(1, activation="sigmoid")))  # (samples, timesteps, 1)
model.compile(loss="binary_crossentropy", optimizer=Adam(learning_rate=0.01), metrics=["accuracy"])
model.fit(x, y, epochs=40, batch_size=32, verbose=0)

loss, accuracy = model.evaluate(x, y, verbose=0)
print(f"many-to-many: per-step accuracy {accuracy:.3f}")
assert accuracy > 0.95
