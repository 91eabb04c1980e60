"""Part-of-speech tagging: a tag for every word, padded sentences masked in the loss too.

The many-to-many pattern: Embedding(mask_zero=True) -> Bidirectional(LSTM(return_sequences))
-> TimeDistributed(Dense(softmax)). The mask reaches the output, so Keras leaves the padded
steps out of the loss and the accuracy.
"""

# %% data
import numpy as np
from keras.layers import LSTM, Bidirectional, Dense, Embedding, Input, TimeDistributed
from keras.models import Sequential
from keras.preprocessing.sequence import pad_sequences

n_words, n_tags, max_len = 30, 5, 7

rng = np.random.default_rng(9)
lengths = rng.integers(2, max_len + 1, size=12)
sentences = [rng.integers(1, n_words, size=n) for n in lengths]
tags = [rng.integers(0, n_tags, size=n) for n in lengths]
X = pad_sequences(sentences, maxlen=max_len, padding="post")
y = pad_sequences(tags, maxlen=max_len, padding="post")

# %% build
model = Sequential()
model.add(Input(shape=(max_len,)))
model.add(Embedding(input_dim=n_words, output_dim=8, mask_zero=True))
model.add(Bidirectional(LSTM(units=6, return_sequences=True)))
model.add(TimeDistributed(Dense(n_tags, activation="softmax")))
model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

# %% train
history = model.fit(X, y, batch_size=4, epochs=2, validation_split=0.25, shuffle=False, verbose=0)
loss, accuracy = model.evaluate(X, y, verbose=0)
predicted_tags = model.predict(X[:3], verbose=0).argmax(axis=-1)
