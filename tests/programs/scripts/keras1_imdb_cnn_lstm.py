"""A Keras 1 script: `imdb_cnn_lstm` as Keras 1.2's examples wrote it.

`Convolution1D(nb_filter=, filter_length=, border_mode=, subsample_length=)`,
`MaxPooling1D(pool_length=)`, `LSTM(dropout_W=, dropout_U=)`, `fit(nb_epoch=)` and
`predict_classes`: Keras 3 refuses these spellings; unrolled runs them with a
DeprecationWarning naming today's. (`scripts/keras3/` holds the Keras 3 spelling.)
"""

# %% data
import numpy as np
from keras.layers import LSTM, Activation, Convolution1D, Dense, Dropout, Embedding, MaxPooling1D
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
model.add(Embedding(max_features, embedding_size, input_length=maxlen))
model.add(Dropout(0.25))
model.add(
    Convolution1D(
        nb_filter=nb_filter,
        filter_length=filter_length,
        border_mode="valid",
        activation="relu",
        subsample_length=1,
    )
)
model.add(MaxPooling1D(pool_length=pool_length))
model.add(LSTM(lstm_output_size, dropout_W=0.2, dropout_U=0.2))
model.add(Dense(1))
model.add(Activation("sigmoid"))

model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

# %% train
print("Train...")
model.fit(
    X_train,
    y_train,
    batch_size=batch_size,
    nb_epoch=nb_epoch,
    validation_data=(X_test, y_test),
    verbose=0,
)

# %% evaluate
score, acc = model.evaluate(X_test, y_test, batch_size=batch_size, verbose=0)
print("Test score:", score)
print("Test accuracy:", acc)
probabilities = model.predict(X_test, verbose=0)
classes = model.predict_classes(X_test, verbose=0)
