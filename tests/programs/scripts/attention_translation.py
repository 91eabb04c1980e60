"""Encoder-decoder translation with (Luong-style) attention over the encoder's LSTM outputs.

The decoder LSTM starts from the encoder's states; `Attention` scores each decoder step
against every encoder step (padded source words masked), the context is concatenated with
the decoder output and a softmax over the target vocabulary predicts the next word.
"""

# %% data
import numpy as np
from keras.layers import LSTM, Attention, Concatenate, Dense, Embedding, Input
from keras.models import Model

source_vocab, target_vocab = 15, 12
source_len, target_len = 7, 5
units = 8

rng = np.random.default_rng(4)
source = np.zeros((10, source_len), dtype="int32")
for row, n in enumerate(rng.integers(2, source_len + 1, size=10)):
    source[row, :n] = rng.integers(1, source_vocab, size=n)  # post-padded
target_in = rng.integers(1, target_vocab, size=(10, target_len))
target_out = np.roll(target_in, -1, axis=1)

# %% build
encoder_inputs = Input(shape=(source_len,), name="source_words")
encoder_embedded = Embedding(source_vocab, 6, mask_zero=True)(encoder_inputs)
encoder_outputs, state_h, state_c = LSTM(units, return_sequences=True, return_state=True)(
    encoder_embedded
)

decoder_inputs = Input(shape=(target_len,), name="target_words")
decoder_embedded = Embedding(target_vocab, 6)(decoder_inputs)
decoder_outputs = LSTM(units, return_sequences=True)(
    decoder_embedded, initial_state=[state_h, state_c]
)

context = Attention()([decoder_outputs, encoder_outputs])
combined = Concatenate(axis=-1)([context, decoder_outputs])
next_words = Dense(target_vocab, activation="softmax")(combined)

model = Model([encoder_inputs, decoder_inputs], next_words)
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

# %% train
history = model.fit(
    [source, target_in], target_out, batch_size=5, epochs=2, shuffle=False, verbose=0
)
loss, accuracy = model.evaluate([source, target_in], target_out, verbose=0)
next_word_probabilities = model.predict([source[:3], target_in[:3]], verbose=0)
