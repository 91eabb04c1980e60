"""CNN-LSTM on short clips: a Conv2D reads each frame, an LSTM reads the frame features.

The video-classification pattern: `TimeDistributed(Conv2D)`, `TimeDistributed(MaxPooling2D)`
and `TimeDistributed(Flatten)` turn each frame into a vector, an LSTM summarises the
clip and a softmax picks the action.
"""

# %% data
import keras
import numpy as np
from keras.layers import LSTM, Conv2D, Dense, Flatten, MaxPooling2D, TimeDistributed
from keras.models import Sequential

frames, height, width, channels = 4, 10, 10, 1
num_classes = 3

rng = np.random.default_rng(5)
clips = rng.random((12, frames, height, width, channels)).astype("float32")
labels = keras.utils.to_categorical(rng.integers(0, num_classes, size=12), num_classes)

# %% build
model = Sequential()
model.add(keras.Input(shape=(frames, height, width, channels)))
model.add(TimeDistributed(Conv2D(4, (3, 3), activation="relu")))
model.add(TimeDistributed(MaxPooling2D((2, 2))))
model.add(TimeDistributed(Flatten()))
model.add(LSTM(8))
model.add(Dense(num_classes, activation="softmax"))
model.compile(
    loss="categorical_crossentropy",
    optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
    metrics=["accuracy"],
)

# %% train
history = model.fit(clips, labels, batch_size=4, epochs=1, shuffle=False, verbose=0)
action_probabilities = model.predict(clips[:5], verbose=0)
