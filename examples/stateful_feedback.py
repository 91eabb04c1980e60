"""One-to-many with stateful=True: feed each predicted step back in as the next input.

The seeds' loop: train on a sequence one step ahead, warm the states on the known part,
then predict one step at a time without resetting.
"""

import numpy as np

from unrolled.layers import LSTM, Dense, Input, TimeDistributed
from unrolled.models import Sequential
from unrolled.optimizers import Adam
from unrolled.utils import set_random_seed

set_random_seed(0)
t = np.arange(0, 60, dtype="float32")
series = (0.5 + 0.4 * np.sin(2 * np.pi * t / 12)).reshape(1, -1, 1)  # (batch 1, steps, features 1)
X, Y = series[:, :-1], series[:, 1:]  # Y is X one step ahead

model = Sequential()
model.add(Input(batch_shape=(1, None, 1)))
model.add(LSTM(16, stateful=True, return_sequences=True))
model.add(TimeDistributed(Dense(1)))
model.compile(loss="mse", optimizer=Adam(learning_rate=0.01))
for epoch in range(300):
    model.reset_state()
    model.train_on_batch(X, Y)

model.reset_state()
predicted = model.predict(X[:, :48], verbose=0)  # warm the states on the known part
last_step = predicted[:, -1:]
generated = []
for _ in range(12):  # no reset: the model knows where it is
    generated.append(float(last_step[0, 0, 0]))
    last_step = model.predict(last_step, verbose=0)
model.reset_state()

error = float(np.abs(np.array(generated) - series[0, 48:60, 0]).mean())
print(f"stateful feedback: 12 generated steps, mean absolute error {error:.3f}")
assert error < 0.1
