"""Keras 1's `Embedding(dropout=...)`: whole words of the vocabulary dropped in training.

Keras 1 (1.2, `keras/layers/embeddings.py`) drew one keep/drop per row of the table for each
batch and scaled the kept rows by `1 / (1 - dropout)`:
`W = in_train_phase(W * random_binomial((input_dim,), 1 - p)[:, None] / (1 - p), W)`. The
oracle is that formula, written out here, and the table itself outside training.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import unrolled

VOCABULARY, WIDTH, RATE = 200, 3, 0.25


def layer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return unrolled.layers.Embedding(VOCABULARY, WIDTH, dropout=RATE)


def test_the_argument_warns_naming_the_keras3_layers():
    with pytest.warns(DeprecationWarning, match=r"SpatialDropout1D.*Dropout"):
        unrolled.layers.Embedding(10, 3, dropout=0.5)


def test_in_training_a_word_is_dropped_everywhere_or_kept_and_scaled():
    embedding = layer()
    table = embedding.embeddings.detach().numpy()
    words = torch.arange(VOCABULARY).repeat(4, 1)  # every word, in each of 4 rows
    out = embedding(words, training=True).detach().numpy()  # (4, VOCABULARY, WIDTH)
    kept = np.abs(out[0]).sum(axis=-1) > 0  # (VOCABULARY,)
    for row in out:  # the same words dropped in every sample of the batch
        np.testing.assert_allclose(row[kept], table[kept] / (1 - RATE), rtol=1e-6)
        np.testing.assert_array_equal(row[~kept], 0.0)
    # 200 independent draws at 0.25: 50 expected, and 24..76 holds with p > 0.9999.
    assert 24 <= (~kept).sum() <= 76


def test_outside_training_the_table_is_read_unchanged():
    embedding = layer()
    words = torch.tensor([[1, 5, 7]])
    expected = embedding.embeddings.detach().numpy()[[1, 5, 7]]
    embedding.eval()
    np.testing.assert_array_equal(embedding(words).detach().numpy()[0], expected)
    embedding.train()
    np.testing.assert_array_equal(embedding(words, training=False).detach().numpy()[0], expected)


def test_dropped_words_get_no_gradient_and_the_rate_survives_saving(tmp_path):
    torch.manual_seed(0)
    embedding = layer()
    words = torch.arange(VOCABULARY).unsqueeze(0)
    out = embedding(words, training=True)
    out.sum().backward()
    dropped = out.detach()[0].abs().sum(-1) == 0
    gradient = embedding.embeddings.grad
    assert torch.all(gradient[dropped] == 0)
    torch.testing.assert_close(
        gradient[~dropped], torch.full_like(gradient[~dropped], 1 / (1 - RATE))
    )

    model = unrolled.Sequential([unrolled.Input((4,)), embedding])
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # loading our own file: no warning
        loaded = unrolled.models.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].dropout == RATE


def test_a_keras1_file_keeps_the_dropout_and_reads_the_table(tmp_path):
    from oracles import legacy_keras_files as legacy

    table = np.random.default_rng(1).standard_normal((VOCABULARY, WIDTH)).astype("float32")
    config = {"name": "embedding_1", "input_dim": VOCABULARY, "output_dim": WIDTH}
    config.update(init="uniform", W_regularizer=None, dropout=RATE, batch_input_shape=[None, 5])
    path = legacy.write_keras1_h5(
        tmp_path / "k1.h5",
        [{"class_name": "Embedding", "config": config}],
        {"embedding_1": [("embedding_1_W", table)]},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = unrolled.interop.from_keras(path)
    embedding = model.layers[0]
    assert embedding.dropout == RATE
    words = np.array([[3, 1, 4, 1, 5]])
    np.testing.assert_array_equal(model.predict(words, verbose=0), table[words])
