"""Sentiment-style text classification: Embedding -> Conv1D -> MaxPooling1D -> LSTM -> Dense.

The shape of Keras's `imdb_cnn_lstm` example at toy sizes: integer word ids in, one
probability out, trained for an epoch with plain SGD, then evaluated and used to predict.
"""

# %% data
import keras
import numpy as np
from keras.layers import LSTM, Activation, Conv1D, Dense, Embedding, MaxPooling1D
from keras.models import Sequential

max_features = 40  # vocabulary size
maxlen = 12  # words per review
embedding_size = 8
filters, kernel_size, pool_size = 6, 3, 2
lstm_output_size = 5
batch_size = 4

rng = np.random.default_rng(0)
x_train = rng.integers(1, max_features, size=(12, maxlen))
y_train = rng.integers(0, 2, size=(12,)).astype("float32")
x_test = rng.integers(1, max_features, size=(6, maxlen))
y_test = rng.integers(0, 2, size=(6,)).astype("float32")

# %% build
model = Sequential()
model.add(keras.Input(shape=(maxlen,)))
model.add(Embedding(max_features, embedding_size))
model.add(Conv1D(filters, kernel_size, padding="valid", activation="relu", strides=1))
model.add(MaxPooling1D(pool_size=pool_size))
model.add(LSTM(lstm_output_size))
model.add(Dense(1))
model.add(Activation("sigmoid"))
model.compile(
    loss="binary_crossentropy",
    optimizer=keras.optimizers.SGD(learning_rate=0.1),
    metrics=["accuracy"],
)

# %% train
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
score, acc = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
predictions = model.predict(x_test, verbose=0)
