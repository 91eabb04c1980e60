"""Self-attention over bidirectional LSTM outputs for text classification.

A masked embedding feeds a Bidirectional LSTM; MultiHeadAttention lets every step attend
to the others (the padding mask reaches it through the LSTM), a masked average pools the
attended steps, and a softmax picks one of three topics.
"""

# %% data
import keras
import numpy as np
from keras import layers

vocab_size, maxlen, num_classes = 25, 9, 3

rng = np.random.default_rng(3)
lengths = rng.integers(3, maxlen + 1, size=16)
texts = [rng.integers(1, vocab_size, size=n) for n in lengths]
x = keras.utils.pad_sequences(texts, maxlen=maxlen, padding="post")
y = keras.utils.to_categorical(rng.integers(0, num_classes, size=16), num_classes)
x_train, y_train, x_val, y_val = x[:12], y[:12], x[12:], y[12:]

# %% build
inputs = keras.Input(shape=(maxlen,), dtype="int32")
embedded = layers.Embedding(vocab_size, 8, mask_zero=True)(inputs)
sequence = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(embedded)
attended = layers.MultiHeadAttention(num_heads=2, key_dim=4)(sequence, sequence)
pooled = layers.GlobalAveragePooling1D()(attended)
outputs = layers.Dense(num_classes, activation="softmax")(pooled)
model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.01),
    loss="categorical_crossentropy",
    metrics=["accuracy"],
)

# %% train
history = model.fit(
    x_train,
    y_train,
    batch_size=4,
    epochs=2,
    validation_data=(x_val, y_val),
    shuffle=False,
    verbose=0,
)
probabilities = model.predict(x_val, verbose=0)
predicted_topics = probabilities.argmax(axis=-1)
