"""Next-frame prediction with ConvLSTM2D, as keras.io's `conv_lstm` example at toy sizes.

Stacked ConvLSTM2D layers with BatchNormalization between them and a Conv3D read a
sequence of frames; the model learns frame t+1 from frame t, then extrapolates: each
predicted frame is appended to the input and the model is asked again.
"""

# %% data
import keras
import numpy as np
from keras import layers

rng = np.random.default_rng(6)
# Moving-square "videos": (samples, frames, height, width, channels), values in {0, 1}.
dataset = np.zeros((8, 6, 8, 8, 1), dtype="float32")
for sample in range(8):
    row, col = rng.integers(0, 5, size=2)
    for t in range(6):
        dataset[sample, t, row : row + 3, (col + t) % 6 : (col + t) % 6 + 3, 0] = 1.0


def create_shifted_frames(data):
    x = data[:, 0 : data.shape[1] - 1, :, :]
    y = data[:, 1 : data.shape[1], :, :]
    return x, y


train_dataset, val_dataset = dataset[:6], dataset[6:]
x_train, y_train = create_shifted_frames(train_dataset)
x_val, y_val = create_shifted_frames(val_dataset)

# %% build
inp = layers.Input(shape=(None, *x_train.shape[2:]))
x = layers.ConvLSTM2D(
    filters=4, kernel_size=(3, 3), padding="same", return_sequences=True, activation="relu"
)(inp)
x = layers.BatchNormalization()(x)
x = layers.ConvLSTM2D(
    filters=4, kernel_size=(1, 1), padding="same", return_sequences=True, activation="relu"
)(x)
x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same")(x)
model = keras.models.Model(inp, x)
model.compile(loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam())

# %% train
history = model.fit(
    x_train,
    y_train,
    batch_size=3,
    epochs=1,
    validation_data=(x_val, y_val),
    shuffle=False,
    verbose=0,
)

# %% extrapolate
example = val_dataset[0]
frames = example[:3, ...]
for _ in range(3):
    new_prediction = model.predict(np.expand_dims(frames, axis=0), verbose=0)
    new_prediction = np.squeeze(new_prediction, axis=0)
    predicted_frame = np.expand_dims(new_prediction[-1, ...], axis=0)
    frames = np.concatenate((frames, predicted_frame), axis=0)
