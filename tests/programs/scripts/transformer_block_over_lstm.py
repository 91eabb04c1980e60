"""A Transformer encoder block on top of LSTM outputs, for sequence classification.

The padded token ids are masked by the Embedding; an LSTM reads them, then the usual
block: MultiHeadAttention over the LSTM outputs, a residual `add` and LayerNormalization,
a position-wise feed-forward Dense pair with its own residual, and a masked average over
the valid steps before the softmax.
"""

# %% data
import keras
import numpy as np
from keras import layers

vocab_size, maxlen, num_classes = 20, 8, 2
embed_dim, num_heads, ff_dim = 6, 2, 8

rng = np.random.default_rng(8)
lengths = rng.integers(2, maxlen + 1, size=12)
x_train = keras.utils.pad_sequences(
    [rng.integers(1, vocab_size, size=n) for n in lengths], maxlen=maxlen, padding="post"
)
y_train = rng.integers(0, num_classes, size=12)

# %% build
inputs = layers.Input(shape=(maxlen,))
x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(inputs)
x = layers.LSTM(embed_dim, return_sequences=True)(x)
attention_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)(x, x)
x = layers.LayerNormalization(epsilon=1e-6)(layers.add([x, attention_output]))
ffn_output = layers.Dense(ff_dim, activation="relu")(x)
ffn_output = layers.Dense(embed_dim)(ffn_output)
x = layers.LayerNormalization(epsilon=1e-6)(layers.add([x, ffn_output]))
x = layers.GlobalAveragePooling1D()(x)
outputs = layers.Dense(num_classes, activation="softmax")(x)
model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

# %% train
history = model.fit(x_train, y_train, batch_size=4, epochs=1, shuffle=False, verbose=0)
class_probabilities = model.predict(x_train, verbose=0)
