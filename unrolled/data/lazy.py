"""`WindowDataset`: `windows(...)`'s samples, read on access from `.npy` files or arrays.

For series larger than memory: nothing is read until a batch asks for its windows, and
then only those windows' rows. `fit` and `predict` take the dataset as they take any
torch `Dataset`; shuffling permutes window indices (8 bytes per window), never data.

Why `.npy` files are read with `os.pread` rather than memory-mapped: on Linux, a page
fault in a file mapping maps the whole page-cache folio around it (up to 2 MB) and the
kernel reads ahead (8 MB on our test machine), so a shuffled pass over a memory map
makes the process's resident size approach the file's: measured, 640 random windows of a
400 MB file mapped with `np.load(mmap_mode="r")` raised the resident size by 350 MB.
Those pages are reclaimable, but they count towards the process's RSS and a container's
memory limit. One `pread` per window (at the header's offset, the header parsed with
`numpy.lib.format`) leaves the process holding only the batch it asked for. An array
given directly (a `np.memmap` included) is windowed as it is, through strided views.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from unrolled.data.series import as_numeric
from unrolled.data.windowing import check_same_features, target_columns, window_count
from unrolled.errors import ConfigError, InputTypeError, ShapeError, positive_int, shape_str

Source = Any  # a path to a .npy file, or an array (np.memmap included)


class WindowDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """The windows of one or several long series, read lazily.

    Window `i` of a series holds steps `[i * stride, i * stride + look_back)` as input and
    the next `horizon` steps of the target columns as target: the samples of
    `unrolled.data.windows(series, look_back, horizon, stride, targets)`, in the same
    order, without making them first.

    Args:
        series: a path to a `.npy` file (its header read now, its rows when a window needs
            them), an array (a `np.memmap` stays on disk), or a list of them: several
            series, windowed one by one (no window crosses from one series into the next).
            Each is `(timesteps,)` or `(timesteps, features)`.
        look_back: steps per input window.
        horizon: steps to predict after each window.
        stride: steps between the starts of consecutive windows.
        targets: the feature column(s) to predict: an int, a list of ints, or None for all.
        dtype: the dtype of the returned tensors (float32, Keras's floatx).

    Shapes:
        `dataset[i]` is `(x, y)`: x `(look_back, features)`, y `(horizon * targets,)`,
        step-major as in `windows`. A batch of them: `(samples, look_back, features)` and
        `(samples, horizon * targets)`. `len(dataset)` is the sum over series of
        `(timesteps - look_back - horizon) // stride + 1`.

    Raises:
        ShapeError: a series is not 1-D or 2-D, is shorter than `look_back + horizon`, or
            the series have different feature counts.
        ConfigError: a bad `look_back`, `horizon`, `stride` or `targets`; a missing file.
        InputTypeError: a series does not hold numbers.

    Keras differences: unlike `windows`, values are not checked for NaN or infinity when
    the dataset is made (that would read every file); check files when you write them.

    Memory: a batch reads its windows' rows and nothing else (see the module docstring);
    the dataset pickles paths, not data, so DataLoader workers open files themselves.

    Example:
        >>> import numpy as np
        >>> data = WindowDataset(np.arange(6.0), look_back=3)
        >>> len(data)
        3
        >>> x, y = data[0]
        >>> x[:, 0].tolist(), y.tolist()
        ([0.0, 1.0, 2.0], [3.0])
    """

    def __init__(
        self,
        series: Source | Sequence[Source],
        look_back: int,
        horizon: int = 1,
        stride: int = 1,
        targets: int | Sequence[int] | None = None,
        dtype: Any = np.float32,
    ) -> None:
        self.look_back = positive_int(look_back, "look_back")
        self.horizon = positive_int(horizon, "horizon")
        self.stride = positive_int(stride, "stride")
        self.dtype = np.dtype(dtype)
        items = list(series) if _several(series) else [series]
        if not items:
            raise ConfigError("WindowDataset needs at least one series. Received an empty list.")
        self._series: list[NpyFile | np.ndarray] = []
        counts = []
        for index, item in enumerate(items):
            name = f"series[{index}]" if len(items) > 1 else "series"
            source = NpyFile(os.fspath(item), name) if _is_path(item) else _as_2d(item, name)
            if self._series:
                check_same_features(self.features, source.shape, name)
            self.features = source.shape[1]
            self._series.append(source)
            counts.append(
                window_count(source.shape[0], self.look_back, self.horizon, self.stride, name)
            )
        self.columns = target_columns(targets, self.features)
        self.targets = len(np.arange(self.features)[self.columns])  # how many target columns
        self._offsets = np.cumsum([0, *counts])  # window index where each series starts

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self._gather(np.array([self._check_index(index)]))
        return torch.from_numpy(x[0]), torch.from_numpy(y[0])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A batch's windows, gathered together (torch's DataLoader calls this)."""
        x, y = self._gather(np.array([self._check_index(i) for i in indices], dtype=np.int64))
        return list(zip(torch.from_numpy(x).unbind(0), torch.from_numpy(y).unbind(0)))

    @property
    def shapes(self) -> tuple[tuple[int, int], tuple[int]]:
        """The shapes of one sample: `((look_back, features), (horizon * targets,))`."""
        return (self.look_back, self.features), (self.horizon * self.targets,)

    def __repr__(self) -> str:
        return (
            f"WindowDataset({len(self)} windows of {len(self._series)} series, "
            f"look_back={self.look_back}, horizon={self.horizon}, stride={self.stride})"
        )

    def _check_index(self, index: int) -> int:
        size = len(self)
        index = int(index)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(f"window index out of range for {size} windows")
        return index

    def _gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        length = self.look_back + self.horizon
        spans = np.empty((len(indices), length, self.features), self.dtype)  # (k, L + H, F)
        series = np.searchsorted(self._offsets, indices, side="right") - 1
        for index in np.unique(series):
            rows = np.nonzero(series == index)[0]
            starts = (indices[rows] - self._offsets[index]) * self.stride  # (k,)
            source = self._series[int(index)]
            if isinstance(source, NpyFile):
                spans[rows] = source.read(starts, length)
            else:
                # A strided view: fancy indexing reads only the chosen windows' rows.
                view = sliding_window_view(source, length, axis=0)  # (W, F, L + H)
                spans[rows] = view[starts].transpose(0, 2, 1)
        x = spans[:, : self.look_back]  # (k, look_back, F)
        ahead = spans[:, self.look_back :, self.columns]  # (k, horizon, targets)
        return np.ascontiguousarray(x), ahead.reshape(len(indices), -1)  # y step-major


class NpyFile:
    """A `.npy` file's rows, read with one `pread` per window (see the module docstring).

    The header is parsed when it is made; the file is opened on the first read in each
    process (pickling keeps the path only). A Fortran-ordered file, whose rows are not
    contiguous, and systems without `os.pread` fall back to `np.load(mmap_mode="r")`.
    """

    def __init__(self, path: str, name: str = "series") -> None:
        if not os.path.exists(path):
            raise ConfigError(f"WindowDataset: no such file: {path!r} ({name})")
        self.path = path
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(file)
            self.offset = file.tell()
        if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
            raise InputTypeError(f"`{name}` ({path}) must hold numbers; its dtype is {dtype}.")
        if len(shape) not in (1, 2):
            raise ShapeError(
                f"A series must have shape (timesteps,) or (timesteps, features). Received: "
                f"{name}.shape={shape_str(shape)} in {path}."
            )
        self.shape: tuple[int, int] = (shape[0], shape[1] if len(shape) == 2 else 1)
        self.file_dtype = dtype
        self.mapped = bool(fortran and len(shape) == 2 and shape[1] > 1) or not hasattr(os, "pread")
        self._file: Any = None

    def read(self, starts: np.ndarray, length: int) -> np.ndarray:
        """Rows `[start, start + length)` for each start: `(k, length, features)`."""
        if self.mapped:
            array = _as_2d(np.load(self.path, mmap_mode="r"), self.path)
            return sliding_window_view(array, length, axis=0)[starts].transpose(0, 2, 1)
        if self._file is None:
            self._file = open(self.path, "rb")  # noqa: SIM115  (kept open for later reads)
        row = self.file_dtype.itemsize * self.shape[1]
        out = np.empty((len(starts), length, self.shape[1]), self.file_dtype)
        descriptor = self._file.fileno()
        for k, start in enumerate(starts.tolist()):
            raw = os.pread(descriptor, length * row, self.offset + start * row)
            out[k] = np.frombuffer(raw, self.file_dtype).reshape(length, self.shape[1])
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}

    def __del__(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()


def _as_2d(value: Any, name: str) -> np.ndarray:
    array = as_numeric(value, name)  # no copy for an array or a memmap
    if array.ndim not in (1, 2):
        raise ShapeError(
            f"`{name}` must be a series of shape (timesteps,) or (timesteps, features). "
            f"Received: {name}.shape={shape_str(array.shape)}."
        )
    return array[:, None] if array.ndim == 1 else array  # (T, F), a view


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _several(series: Any) -> bool:
    # A list of paths or arrays is several series; a flat list of numbers is one.
    return isinstance(series, (list, tuple)) and all(
        _is_path(item) or np.ndim(item) >= 1 for item in series
    )
