"""Sensor time-series classification: BatchNormalization between stacked GRUs.

The human-activity-recognition pattern: windows of accelerometer readings, normalized by
BatchNormalization, read by two GRUs, a Dense head with its own BatchNormalization and a
softmax over activities. Training moves BatchNormalization's statistics; evaluation and
prediction use them, and so does the model saved and loaded again.
"""

# %% data
import keras
import numpy as np
from keras.layers import GRU, BatchNormalization, Dense, Input
from keras.models import Sequential
from keras.optimizers import SGD
from keras.utils import to_categorical

timesteps, features, activities = 6, 3, 4

rng = np.random.default_rng(7)
X = (rng.normal(size=(16, timesteps, features)) * [1.0, 5.0, 0.2] + [0.0, 9.8, 1.0]).astype(
    "float32"
)
y = to_categorical(rng.integers(0, activities, size=16), activities)
X_train, X_test, y_train, y_test = X[:12], X[12:], y[:12], y[12:]

# %% build
model = Sequential(
    [
        Input(shape=(timesteps, features)),
        BatchNormalization(),
        GRU(8, return_sequences=True),
        BatchNormalization(momentum=0.9),
        GRU(6),
        Dense(8, activation="relu"),
        BatchNormalization(),
        Dense(activities, activation="softmax"),
    ]
)
model.compile(
    optimizer=SGD(learning_rate=0.05), loss="categorical_crossentropy", metrics=["accuracy"]
)

# %% train
history = model.fit(X_train, y_train, batch_size=4, epochs=2, shuffle=False, verbose=0)
test_loss, test_accuracy = model.evaluate(X_test, y_test, verbose=0)
activity_probabilities = model.predict(X_test, verbose=0)

# %% reload
model.save("har_gru.keras")
restored = keras.models.load_model("har_gru.keras")
restored_probabilities = restored.predict(X_test, verbose=0)
