"""TensorFlow-only facilities a Keras script reaches for fail with what to use instead.

`tf.data` datasets and `keras.preprocessing.text.Tokenizer` need TensorFlow. The dataset
here is a stand-in with tf.data's module and `as_numpy_iterator` (TensorFlow is not a test
dependency); following the message's advice must then train.
"""

from __future__ import annotations

import numpy as np
import pytest

import unrolled


class FakeTFDataset:
    """What fit sees of a tf.data.Dataset: its module and `as_numpy_iterator`."""

    __module__ = "tensorflow.python.data.ops.batch_op"

    def as_numpy_iterator(self):
        x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
        return ((x, y) for _ in range(2))


def model():
    m = unrolled.Sequential([unrolled.Input((3,)), unrolled.layers.Dense(1)])
    m.compile("sgd", "mse")
    return m


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_a_tf_data_dataset_is_refused_with_the_numpy_iterator_to_use(call):
    with pytest.raises(unrolled.ConfigError, match=r"tf\.data.*dataset\.as_numpy_iterator\(\)"):
        getattr(model(), call)(FakeTFDataset(), verbose=0)


def test_tf_data_validation_data_is_refused_too_and_the_advice_trains():
    m = model()
    with pytest.raises(unrolled.ConfigError, match=r"`validation_data` is a tf\.data\.Dataset"):
        m.fit(FakeTFDataset().as_numpy_iterator(), validation_data=FakeTFDataset(), verbose=0)
    history = m.fit(FakeTFDataset().as_numpy_iterator(), epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1


def test_the_text_tokenizer_import_says_what_to_use_instead():
    with pytest.raises(ImportError, match=r"TensorFlow's.*pad_sequences"):
        from unrolled.preprocessing.text import Tokenizer  # noqa: F401
    import unrolled.preprocessing.text as text

    assert not hasattr(text, "SomethingElse")  # other names: a plain AttributeError
