"""The Keras 3 spelling of `scripts/keras1_imdb_cnn_lstm.py`, the oracle for that script.

Line for line the same program; only the Keras 1 names are replaced by Keras 3's
(`Conv1D(filters, kernel_size, padding=, strides=)`, `pool_size=`, `dropout=`,
`recurrent_dropout=`, `epochs=`, and a threshold for `predict_classes`).
"""

# %% data
import numpy as np
from keras.layers import LSTM, Activation, Conv1D, Dense, Dropout, Embedding, Input, MaxPooling1D
from keras.models import Sequential
from keras.preprocessing import sequence

# Embedding
max_features = 30
maxlen = 16
embedding_size = 8

# Convolution
filter_length = 3
nb_filter = 6
pool_length = 2

# LSTM
lstm_output_size = 5

# Training
batch_size = 4
nb_epoch = 1

rng = np.random.default_rng(1)
X_train = [list(rng.integers(1, max_features, size=rng.integers(5, 20))) for _ in range(12)]
X_test = [list(rng.integers(1, max_features, size=rng.integers(5, 20))) for _ in range(6)]
y_train = rng.integers(0, 2, size=12)
y_test = rng.integers(0, 2, size=6)

print("Pad sequences (samples x time)")
X_train = sequence.pad_sequences(X_train, maxlen=maxlen)
X_test = sequence.pad_sequences(X_test, maxlen=maxlen)
print("X_train shape:", X_train.shape)

# %% build
print("Build model...")
model = Sequential()
model.add(Input(shape=(maxlen,)))
model.add(Embedding(max_features, embedding_size))
model.add(Dropout(0.25))
model.add(Conv1D(nb_filter, filter_length, padding="valid", activation="relu", strides=1))
model.add(MaxPooling1D(pool_size=pool_length))
model.add(LSTM(lstm_output_size, dropout=0.2, recurrent_dropout=0.2))
model.add(Dense(1))
model.add(Activation("sigmoid"))

model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

# %% train
print("Train...")
model.fit(
    X_train,
    y_train,
    batch_size=batch_size,
    epochs=nb_epoch,
    validation_data=(X_test, y_test),
    verbose=0,
)

# %% evaluate
score, acc = model.evaluate(X_test, y_test, batch_size=batch_size, verbose=0)
print("Test score:", score)
print("Test accuracy:", acc)
probabilities = model.predict(X_test, verbose=0)
classes = (probabilities > 0.5).astype("int32")
