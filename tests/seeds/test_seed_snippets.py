"""Every code snippet in ../shared/seeds/ runs with only its imports changed.

Data the snippets leave undefined (`create_dataset`, `someDataWithShape`, ...) is made up
here; each test asserts what the answers in the seeds state (shapes, weight shapes,
training running). Snippet code between the `# --- seed ---` marks is the seeds' code, with
only whitespace normalised by the formatter.
"""

from __future__ import annotations

import warnings

import numpy
import numpy as np
import pytest

import unrolled as keras  # the seeds write `keras.layers...`, `keras.models...`, `keras.optimizers...`
from unrolled.layers import (
    LSTM,
    Activation,
    Dense,
    Input,
    Lambda,
    Masking,
    RepeatVector,
    TimeDistributed,
)
from unrolled.models import Model, Sequential


@pytest.fixture(autouse=True)
def _legacy_arguments_warn_but_work():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


# -- 000: the four pictures and the last-N slice ---------------------------------------------------
timesteps, data_dim, output_size, number_of_times, N = 6, 3, 2, 4, 3


def test_seed_000_many_to_one_with_dense_head():
    # --- seed ---
    model = Sequential()
    model.add(LSTM(128, input_shape=(timesteps, data_dim)))
    model.add(Dense(1))
    # --- end ---
    assert model.output_shape == (None, 1)
    assert model.predict(np.zeros((2, timesteps, data_dim)), verbose=0).shape == (2, 1)


def test_seed_000_one_to_one_is_a_dense_layer():
    input_shape = (data_dim,)
    model = Sequential()
    # --- seed ---
    model.add(Dense(output_size, input_shape=input_shape))
    # --- end ---
    assert model.output_shape == (None, output_size)


def test_seed_000_one_to_many_by_repeat_vector():
    input_shape = (data_dim,)
    model = Sequential()
    # --- seed ---
    model.add(RepeatVector(number_of_times, input_shape=input_shape))
    model.add(LSTM(output_size, return_sequences=True))
    # --- end ---
    assert model.output_shape == (None, number_of_times, output_size)


def test_seed_000_many_to_one_and_many_to_many():
    # --- seed ---
    model = Sequential()
    model.add(LSTM(1, input_shape=(timesteps, data_dim)))
    # --- end ---
    assert model.output_shape == (None, 1)
    # --- seed ---
    model = Sequential()
    model.add(LSTM(1, input_shape=(timesteps, data_dim), return_sequences=True))
    # --- end ---
    assert model.output_shape == (None, timesteps, 1)


def test_seed_000_many_to_many_last_n_steps_by_lambda_slice():
    # --- seed ---
    model = Sequential()
    model.add(LSTM(1, input_shape=(timesteps, data_dim), return_sequences=True))
    model.add(Lambda(lambda x: x[:, -N:, :]))  # Select last N from output
    # --- end ---
    assert model.output_shape == (None, N, 1)
    x = np.random.rand(5, timesteps, data_dim).astype("float32")
    assert model.predict(x, verbose=0).shape == (5, N, 1)


# -- 001/002: the airline recipe, stateful, with Keras 1 arguments ---------------------------------
def create_dataset(dataset, look_back=1):
    """The tutorial's helper: windows of `look_back` values and the value after each."""
    x = [dataset[i : i + look_back, 0] for i in range(len(dataset) - look_back - 1)]
    y = [dataset[i + look_back, 0] for i in range(len(dataset) - look_back - 1)]
    return numpy.array(x), numpy.array(y)


def test_seed_001_stateful_airline_recipe_trains_and_resets():
    series = keras.datasets.airline_passengers().values.reshape(-1, 1)
    series = (series - series.min()) / (series.max() - series.min())
    train, test = series[:24], series[24:36]  # a short stretch keeps 100 epochs of batch 1 quick
    # --- seed ---
    # reshape into X=t and Y=t+1
    look_back = 3
    trainX, trainY = create_dataset(train, look_back)
    testX, testY = create_dataset(test, look_back)

    # reshape input to be [samples, time steps, features]
    trainX = numpy.reshape(trainX, (trainX.shape[0], look_back, 1))
    testX = numpy.reshape(testX, (testX.shape[0], look_back, 1))
    ########################
    # The IMPORTANT BIT
    ##########################
    # create and fit the LSTM network
    batch_size = 1
    model = Sequential()
    model.add(LSTM(4, batch_input_shape=(batch_size, look_back, 1), stateful=True))
    model.add(Dense(1))
    model.compile(loss="mean_squared_error", optimizer="adam")
    for i in range(100):
        model.fit(trainX, trainY, nb_epoch=1, batch_size=batch_size, verbose=2, shuffle=False)
        model.reset_states()
    # --- end ---
    assert trainX.shape == (20, 3, 1)  # (samples, time steps, features)
    predictions = model.predict(testX, batch_size=batch_size, verbose=0)
    assert predictions.shape == (len(testX), 1)
    assert float(np.mean((predictions[:, 0] - testY) ** 2)) < float(np.var(testY)) + 0.05


units, steps, features, batch = 5, 7, 2, 3


def test_seed_001_single_layer_many_to_many_and_many_to_one():
    inputs = Input((steps, features))
    # --- seed ---
    outputs = LSTM(units, return_sequences=True)(inputs)
    # --- end ---
    assert outputs.shape == (None, steps, units)  # (batch_size, steps, units)
    # --- seed ---
    outputs = LSTM(units)(inputs)
    # --- end ---
    assert outputs.shape == (None, units)


def test_seed_001_one_to_many_with_repeat_vector():
    inputs = Input((features,))
    # --- seed ---
    outputs = RepeatVector(steps)(inputs)  # where inputs is (batch,features)
    outputs = LSTM(units, return_sequences=True)(outputs)
    # --- end ---
    assert outputs.shape == (None, steps, units)


def someDataWithShape(shape):  # noqa: N802 - the seed's name
    return np.random.rand(*shape).astype("float32")


def test_seed_001_one_to_many_with_stateful_feedback_loop():
    inputs = Input(batch_shape=(batch, None, features))
    # --- seed ---
    outputs = LSTM(
        units=features,
        stateful=True,
        return_sequences=True,  # just to keep a nice output shape even with length 1
        input_shape=(None, features),
    )(inputs)
    # --- end ---
    model = Model(inputs, outputs)
    steps_to_predict = range(4)
    # --- seed ---
    input_data = someDataWithShape((batch, 1, features))

    # important, we're starting new sequences, not continuing old ones:
    model.reset_states()

    output_sequence = []
    last_step = input_data
    for i in steps_to_predict:
        new_step = model.predict(last_step)
        output_sequence.append(new_step)
        last_step = new_step

    # end of the sequences
    model.reset_states()
    # --- end ---
    assert [s.shape for s in output_sequence] == [(batch, 1, features)] * 4
    # Stepping one step at a time equals one call over the generated inputs (states carried).
    whole = model.predict(np.concatenate([input_data, *output_sequence[:-1]], axis=1), verbose=0)
    np.testing.assert_allclose(whole, np.concatenate(output_sequence, axis=1), atol=1e-5)


def test_seed_001_many_to_many_stateful_training_and_forecast():
    inputs = Input(batch_shape=(1, None, features))
    outputs = LSTM(
        units=features, stateful=True, return_sequences=True, input_shape=(None, features)
    )(inputs)
    model = Model(inputs, outputs)
    model.compile(loss="mse", optimizer="adam")
    epochs, steps_to_predict = 3, range(3)
    # --- seed ---
    totalSequences = someSequencesShaped((batch, steps, features))  # noqa: N806
    # --- end ---
    totalSequences = totalSequences[:1]  # noqa: N806 - batch size is usually 1 in these cases
    # --- seed ---
    X = totalSequences[:, :-1]  # the entire known sequence, except the last step
    Y = totalSequences[:, 1:]  # one step ahead of X

    # loop for resetting states at the start/end of the sequences:
    for epoch in range(epochs):
        model.reset_states()
        model.train_on_batch(X, Y)

    model.reset_states()  # starting a new sequence
    predicted = model.predict(totalSequences)
    firstNewStep = predicted[:, -1:]  # the last step of the predictions is the first future step

    output_sequence = [firstNewStep]
    last_step = firstNewStep
    for i in steps_to_predict:
        new_step = model.predict(last_step)
        output_sequence.append(new_step)
        last_step = new_step

    # end of the sequences
    model.reset_states()
    # --- end ---
    assert predicted.shape == (1, steps, features)
    assert len(output_sequence) == 4 and output_sequence[-1].shape == (1, 1, features)


def someSequencesShaped(shape):  # noqa: N802 - the seed's name
    return np.random.rand(*shape).astype("float32")


def test_seed_001_autoencoder_composes_and_trains_on_x_to_x():
    hidden1, hidden2, hidden3, hidden4 = 8, 8, 4, 8
    # --- seed ---
    inputs = Input((steps, features))

    # a few many to many layers:
    outputs = LSTM(hidden1, return_sequences=True)(inputs)
    outputs = LSTM(hidden2, return_sequences=True)(outputs)

    # many to one layer:
    outputs = LSTM(hidden3)(outputs)

    encoder = Model(inputs, outputs)

    inputs = Input((hidden3,))

    # repeat to make one to many:
    outputs = RepeatVector(steps)(inputs)

    # a few many to many layers:
    outputs = LSTM(hidden4, return_sequences=True)(outputs)

    # last layer
    outputs = LSTM(features, return_sequences=True)(outputs)

    decoder = Model(inputs, outputs)

    inputs = Input((steps, features))
    outputs = encoder(inputs)
    outputs = decoder(outputs)

    autoencoder = Model(inputs, outputs)
    # --- end ---
    X = someSequencesShaped((32, steps, features))  # noqa: N806
    autoencoder.compile(loss="mse", optimizer="adam")
    history = autoencoder.fit(X, X, epochs=3, verbose=0)
    assert autoencoder.output_shape == (None, steps, features)
    assert encoder.output_shape == (None, hidden3)
    assert len(history.history["loss"]) == 3


class _Seed001Answer2:
    """The third answer's snippet lives inside a class (`self.` attributes)."""

    maxSequenceLength, vocabularySize, EmbeddingDimension = 6, 11, 4  # noqa: N815

    def build(self):
        # --- seed ---
        words = keras.layers.Input(batch_shape=(None, self.maxSequenceLength), name="input")

        # Build a matrix of size vocabularySize x EmbeddingDimension
        # where each row corresponds to a "word embedding" vector.
        # This layer will convert replace each word-id with a word-vector of size Embedding Dimension.
        embeddings = keras.layers.embeddings.Embedding(
            self.vocabularySize, self.EmbeddingDimension, name="embeddings"
        )(words)
        # Pass the word-vectors to the LSTM layer.
        # We are setting the hidden-state size to 512.
        # The output will be batchSize x maxSequenceLength x hiddenStateSize
        hiddenStates = keras.layers.GRU(
            512,
            return_sequences=True,
            input_shape=(self.maxSequenceLength, self.EmbeddingDimension),
            name="rnn",
        )(embeddings)
        hiddenStates2 = keras.layers.GRU(
            128,
            return_sequences=True,
            input_shape=(self.maxSequenceLength, self.EmbeddingDimension),
            name="rnn2",
        )(hiddenStates)

        denseOutput = TimeDistributed(keras.layers.Dense(self.vocabularySize), name="linear")(
            hiddenStates2
        )
        predictions = TimeDistributed(keras.layers.Activation("softmax"), name="softmax")(
            denseOutput
        )

        # Build the computational graph by specifying the input, and output of the network.
        model = keras.models.Model(input=words, output=predictions)
        # model.compile(loss='kullback_leibler_divergence', \
        model.compile(
            loss="sparse_categorical_crossentropy",
            optimizer=keras.optimizers.Adam(
                lr=0.009, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.01, amsgrad=False
            ),
        )
        # --- end ---
        return model


def test_seed_001_embedding_gru_timedistributed_softmax_model():
    model = _Seed001Answer2().build()
    assert model.output_shape == (None, 6, 11)
    words = np.random.randint(0, 11, (4, 6))
    history = model.fit(words, words, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    probabilities = model.predict(words, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)


# -- 003: masking, and "16 blocks of 1 cell or 1 block of 16 cells?" -------------------------------
def test_seed_003_masking_lstm_binary_classifier_trains():
    MAX_LENGTH, BATCH_SIZE = 8, 4  # noqa: N806
    # --- seed ---
    model = Sequential()
    model.add(Masking(mask_value=0.0, input_shape=(MAX_LENGTH, 1)))
    model.add(LSTM(16, input_shape=(BATCH_SIZE, MAX_LENGTH, 1), return_sequences=False))
    model.add(Dense(units=2))
    model.add(Activation("sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    # --- end ---
    x = np.random.rand(16, MAX_LENGTH, 1).astype("float32")
    x[:8, :3] = 0.0  # pre-padded rows
    y = np.random.randint(0, 2, (16, 2)).astype("float32")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert set(history.history) >= {"loss", "accuracy"}
    assert model.layers[1].count_params() == 4 * (16 * (1 + 16) + 16)  # one block of 16 cells


def test_seed_003_weight_shapes_are_one_block_of_cells():
    # --- seed ---
    model = Sequential()
    model.add(LSTM(10, input_shape=(20, 30), return_sequences=True))
    model.compile(loss="mse", optimizer="adam", metrics=["accuracy"])
    weights = model.get_weights()
    # --- end ---
    assert weights[0].shape == (30, 40)
    assert weights[1].shape == (10, 40)
    assert weights[2].shape == (40,)
    assert [tuple(w.shape) for w in model.weights] == [(30, 40), (10, 40), (40,)]
