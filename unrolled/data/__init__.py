"""Data preparation: windows, chronological splits, scaling, padding and stateful batches.

This package knows NumPy and torch only, not the layers, models or training loop.
"""

from unrolled.data.batching import StatefulBatches, stateful_batches
from unrolled.data.lazy import WindowDataset
from unrolled.data.padding import pad_sequences
from unrolled.data.scaling import MinMaxScaler, Scaler, StandardScaler, scaler_from_state
from unrolled.data.splitting import SeriesSplit, split_series, train_test_split
from unrolled.data.windowing import Windows, windows

__all__ = [
    "MinMaxScaler",
    "Scaler",
    "SeriesSplit",
    "StandardScaler",
    "StatefulBatches",
    "WindowDataset",
    "Windows",
    "pad_sequences",
    "scaler_from_state",
    "split_series",
    "stateful_batches",
    "train_test_split",
    "windows",
]
