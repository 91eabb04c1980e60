"""`unrolled.topologies`: each of Karpathy's pictures as a one-line model builder."""

from unrolled.models.topologies import (
    Autoencoder,
    Seq2Seq,
    autoencoder,
    many_to_many,
    many_to_one,
    one_to_many,
    one_to_one,
    seq2seq,
)

__all__ = [
    "Autoencoder",
    "Seq2Seq",
    "autoencoder",
    "many_to_many",
    "many_to_one",
    "one_to_many",
    "one_to_one",
    "seq2seq",
]
