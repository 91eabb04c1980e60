"""Keras 2's `keras.preprocessing.text` import path: TensorFlow's text tools, which unrolled lacks.

`Tokenizer`, `text_to_word_sequence`, `one_hot`, `hashing_trick` and `tokenizer_from_json`
were TensorFlow's (`tf.keras.preprocessing.text`); Keras 3 removed them. Importing one
raises an ImportError that says what to use instead, rather than "cannot import name".
"""

from __future__ import annotations

from typing import Any

TENSORFLOW_ONLY = (
    "Tokenizer",
    "text_to_word_sequence",
    "one_hot",
    "hashing_trick",
    "tokenizer_from_json",
)

INSTEAD = (
    "Build the vocabulary in plain Python (e.g. collections.Counter over text.lower().split(), "
    "ids by frequency from 1, 0 left for padding), map each text to its ids, and pad them with "
    "unrolled.preprocessing.sequence.pad_sequences; under TensorFlow, "
    "keras.layers.TextVectorization does the same."
)


def __getattr__(name: str) -> Any:
    if name in TENSORFLOW_ONLY:
        # An ImportError, not an AttributeError: `from ... import Tokenizer` shows this text.
        raise ImportError(
            f"{name} is TensorFlow's (tf.keras.preprocessing.text; Keras 3 removed it), and "
            f"unrolled has no text tokenizer. {INSTEAD}",
            name=name,
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
