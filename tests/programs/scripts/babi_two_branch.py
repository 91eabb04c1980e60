"""bAbI-style question answering: a story and a question, each read by its own LSTM.

As Keras 2's `babi_rnn` example: two integer inputs of different depths. The story is
embedded; the question is embedded, read by an LSTM and repeated over the story's steps;
the two are added and read by a second LSTM, then a softmax over the vocabulary gives the
answer word. The texts are pre-padded with zeros and the embeddings mask them: the
question's LSTM skips its padding, and `add` drops the story's mask, as Keras's merge layers
do when one input (here RepeatVector's) has none, so the second LSTM reads every step.
"""

# %% data
import numpy as np
from keras import layers
from keras.models import Model
from keras.preprocessing.sequence import pad_sequences

vocab_size = 12
story_maxlen, query_maxlen = 10, 4
EMBED_HIDDEN_SIZE = 6
SENT_HIDDEN_SIZE = 7
BATCH_SIZE = 4
EPOCHS = 1

rng = np.random.default_rng(2)


def vectorize_stories(count):
    stories = [
        rng.integers(1, vocab_size, size=rng.integers(3, story_maxlen + 1)) for _ in range(count)
    ]
    queries = [
        rng.integers(1, vocab_size, size=rng.integers(2, query_maxlen + 1)) for _ in range(count)
    ]
    answers = np.zeros((count, vocab_size), dtype="float32")
    answers[np.arange(count), rng.integers(1, vocab_size, size=count)] = 1.0
    return (
        pad_sequences(stories, maxlen=story_maxlen),
        pad_sequences(queries, maxlen=query_maxlen),
        answers,
    )


x, xq, y = vectorize_stories(12)
tx, txq, ty = vectorize_stories(6)

# %% build
sentence = layers.Input(shape=(story_maxlen,), dtype="int32", name="story")
encoded_sentence = layers.Embedding(
    vocab_size, EMBED_HIDDEN_SIZE, mask_zero=True, name="story_embedding"
)(sentence)

question = layers.Input(shape=(query_maxlen,), dtype="int32", name="question")
encoded_question = layers.Embedding(
    vocab_size, EMBED_HIDDEN_SIZE, mask_zero=True, name="question_embedding"
)(question)
encoded_question = layers.LSTM(EMBED_HIDDEN_SIZE, name="question_lstm")(encoded_question)
encoded_question = layers.RepeatVector(story_maxlen)(encoded_question)

merged = layers.add([encoded_sentence, encoded_question])
merged = layers.LSTM(SENT_HIDDEN_SIZE, name="story_lstm")(merged)
preds = layers.Dense(vocab_size, activation="softmax", name="answer")(merged)

model = Model([sentence, question], preds)
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

# %% train
history = model.fit(
    [x, xq],
    y,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    validation_split=0.25,
    shuffle=False,
    verbose=0,
)
loss, acc = model.evaluate([tx, txq], ty, batch_size=BATCH_SIZE, verbose=0)
answers = model.predict([tx, txq], verbose=0)
