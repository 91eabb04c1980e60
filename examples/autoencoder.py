"""Autoencoder: a many-to-one encoder, then a one-to-many decoder (the seeds' composition).

encoder: (steps, features) -> LSTM -> LSTM -> LSTM -> (hidden3,)
decoder: (hidden3,) -> RepeatVector(steps) -> LSTM -> LSTM -> (steps, features)
"""

import numpy as np

from unrolled.layers import LSTM, Input, RepeatVector
from unrolled.models import Model
from unrolled.utils import set_random_seed

set_random_seed(0)
steps, features = 8, 2
hidden1, hidden2, hidden3, hidden4 = 16, 16, 8, 16
phase = np.random.uniform(0, 2 * np.pi, (512, 1, 1))
t = np.arange(steps).reshape(1, steps, 1)
X = (
    np.concatenate([np.sin(t * 0.6 + phase), np.cos(t * 0.6 + phase)], axis=-1).astype("float32")
    * 0.5
)

inputs = Input((steps, features))
outputs = LSTM(hidden1, return_sequences=True)(inputs)
outputs = LSTM(hidden2, return_sequences=True)(outputs)
outputs = LSTM(hidden3)(outputs)  # many to one
encoder = Model(inputs, outputs)

inputs = Input((hidden3,))
outputs = RepeatVector(steps)(inputs)  # one to many
outputs = LSTM(hidden4, return_sequences=True)(outputs)
outputs = LSTM(features, return_sequences=True)(outputs)
decoder = Model(inputs, outputs)

inputs = Input((steps, features))
autoencoder = Model(inputs, decoder(encoder(inputs)))
autoencoder.compile(loss="mse", optimizer="adam")
history = autoencoder.fit(X, X, epochs=30, batch_size=32, verbose=0)

first, last = history.history["loss"][0], history.history["loss"][-1]
print(
    f"autoencoder: reconstruction loss {first:.4f} -> {last:.4f}; code shape {encoder.output_shape}"
)
assert last < first / 5
