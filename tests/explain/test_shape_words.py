"""Shapes in the trace's words: frames and images name their axes, not `timesteps`/`features`."""

import unrolled as keras
from unrolled.explain import shape_words
from unrolled.explain.trace import shape_trace


def test_sequences_keep_timesteps_and_features():
    assert shape_words((None, 10, 3)) == "(samples, timesteps=10, features=3)"


def test_frames_name_rows_cols_and_channels():
    assert shape_words((None, 5, 8, 8, 1)) == "(samples, timesteps=5, rows=8, cols=8, channels=1)"


def test_four_axes_name_only_the_channels():
    assert shape_words((2, 6, 6, 4)) == "(samples=2, 6, 6, channels=4)"


def test_the_trace_of_a_cnn_lstm_reads_its_frames_and_images():
    model = keras.Sequential(
        [
            keras.Input((5, 8, 8, 1)),
            keras.TimeDistributed(keras.Conv2D(2, 3)),
            keras.ConvLSTM2D(2, 3),
            keras.Flatten(),
            keras.Dense(1),
        ]
    )
    text = str(shape_trace(model))
    assert "(samples, timesteps=5, rows=8, cols=8, channels=1)" in text
    assert "(samples, timesteps=5, rows=6, cols=6, channels=2)" in text
    assert "(samples, 4, 4, channels=2)" in text
    assert "timesteps=4" not in text
