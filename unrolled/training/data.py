"""Turns what fit/evaluate/predict receive into batches of tensors on the model's device.

Accepted: NumPy arrays, torch tensors, array-likes, and lists/tuples/dicts of them
(multi-input or multi-output models); or a torch `Dataset`/`DataLoader`, a Python generator
or a Keras `PyDataset` (see `batch_sources.py`) yielding `x`, `(x, y)` or
`(x, y, sample_weight)`.

Arrays are converted once per call, not per batch: floats and booleans become float32
(Keras's floatx; or the float type of the model's parameters, e.g. float64 after
`module.double()`), integer arrays keep their integer dtype (token ids for an Embedding). Then every tensor is checked: the same number of samples everywhere,
no NaN or infinity. An epoch gathers the shuffled order once and slices contiguous
batches; the last batch keeps what is left (Keras's ragged last batch).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unrolled.errors import ConfigError, InputTypeError, ShapeError
from unrolled.training.batch_sources import BatchSource

Structure = Any  # a tensor, or a list / tuple / dict of structures
Batch = tuple[Structure, Structure, "torch.Tensor | None"]
Placement = tuple["torch.device | None", torch.dtype]  # where data goes: device, float dtype


def placement(module: torch.nn.Module) -> Placement:
    """The device of the module's first parameter (or buffer), and the float type of its
    first floating parameter (float32 unless the module was converted)."""
    device = next((t.device for t in module.parameters()), None)
    if device is None:
        device = next((t.device for t in module.buffers()), None)
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    return device, dtype


def flatten(structure: Structure) -> list[Any]:
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def pack(structure: Structure, leaves: Iterator[Any]) -> Structure:
    """The inverse of `flatten`: `structure`'s shape filled from `leaves`."""
    if isinstance(structure, dict):
        return {key: pack(value, leaves) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(pack(item, leaves) for item in structure)
    return next(leaves)


def leaf_names(structure: Structure, name: str) -> list[str]:
    """`x`, `x[0]`, `x['tokens']`: how each leaf is named in messages."""
    if isinstance(structure, dict):
        return [n for key in structure for n in leaf_names(structure[key], f"{name}[{key!r}]")]
    if isinstance(structure, (list, tuple)):
        return [n for i, item in enumerate(structure) for n in leaf_names(item, f"{name}[{i}]")]
    return [name]


def is_structure(value: Any) -> bool:
    """A list/tuple of arrays or a dict is a structure; a list of numbers is one array."""
    if isinstance(value, dict):
        return True
    if isinstance(value, (list, tuple)):
        return (
            len(value) > 0
            and all(
                isinstance(v, (np.ndarray, torch.Tensor, list, tuple, dict))
                or hasattr(v, "__array__")
                for v in value
            )
            and not _is_nested_numbers(value)
        )
    return False


def _is_nested_numbers(value: Any) -> bool:
    # [[1, 2], [3, 4]] is a 2-D array, not two inputs.
    return all(
        isinstance(v, (list, tuple))
        and not any(isinstance(e, (np.ndarray, torch.Tensor)) for e in flatten(v))
        for v in value
    )


def to_tensor(
    value: Any, name: str, device: torch.device | None, float_dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """One array as a tensor on `device`; floats and booleans as `float_dtype`
    (float32, Keras's floatx, unless the model's parameters are another float type)."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    else:
        if hasattr(value, "to_numpy"):  # pandas
            value = value.to_numpy()
        array = np.asarray(value)
        if array.dtype == object or array.dtype.kind in "USV":
            raise InputTypeError(
                f"`{name}` must be numeric. Received an array of dtype {array.dtype} "
                f"(shape {array.shape}); convert it with np.asarray(..., dtype='float32')."
            )
        # A read-only array (a sliding-window view, a memory map) is copied: torch warns on it.
        array = np.ascontiguousarray(array)
        tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
    if tensor.is_complex():
        raise InputTypeError(
            f"`{name}` must be real-valued. Received {tensor.dtype} data (shape "
            f"{tuple(tensor.shape)}); pass the real part (x.real) or split it into two features."
        )
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        tensor = tensor.to(float_dtype)
    if tensor.dim() == 0:
        raise ShapeError(f"`{name}` must have a samples axis. Received a scalar: {name}={value!r}")
    return tensor.to(device) if device is not None else tensor


def to_structure(
    value: Any, name: str, device: torch.device | None, float_dtype: torch.dtype = torch.float32
) -> Structure:
    if value is None:
        return None
    if isinstance(value, dict):
        return {
            key: to_structure(v, f"{name}[{key!r}]", device, float_dtype)
            for key, v in value.items()
        }
    if is_structure(value):
        return [to_structure(v, f"{name}[{i}]", device, float_dtype) for i, v in enumerate(value)]
    return to_tensor(value, name, device, float_dtype)


def check_finite(structure: Structure, name: str) -> None:
    """Raises ConfigError naming the first sample that holds a NaN or infinity."""
    for tensor, label in zip(flatten(structure), leaf_names(structure, name)):
        if not tensor.is_floating_point() or bool(torch.isfinite(tensor).all()):
            continue
        bad = ~torch.isfinite(tensor.reshape(tensor.shape[0], -1)).all(dim=1)
        index = int(torch.nonzero(bad)[0, 0])
        count = int(bad.sum())
        raise ConfigError(
            f"`{label}` contains NaN or infinite values in {count} sample(s), the first at "
            f"index {index} ({label}[{index}]). Remove or fill them before training "
            "(e.g. np.nan_to_num, or drop those rows)."
        )


@dataclass
class ArrayData:
    """Tensors with a common samples axis, batched by slicing."""

    x: Structure
    y: Structure
    sample_weight: torch.Tensor | None
    num_samples: int

    @classmethod
    def build(
        cls,
        x: Any,
        y: Any,
        sample_weight: Any,
        device: torch.device | None,
        float_dtype: torch.dtype = torch.float32,
        check: bool = True,
        names: tuple[str, str, str] = ("x", "y", "sample_weight"),
    ) -> ArrayData:
        """`names` are how messages call the three arrays (e.g. `validation_data[0]`)."""
        x_name, y_name, weight_name = names
        if x is None:
            raise ConfigError(f"`{x_name}` is required: an array of shape (samples, ...).")
        x = to_structure(x, x_name, device, float_dtype)
        y = to_structure(y, y_name, device, float_dtype)
        if sample_weight is not None:
            sample_weight = to_tensor(sample_weight, weight_name, device).to(torch.float32)
        sizes = {}
        for part, structure in ((x_name, x), (y_name, y), (weight_name, sample_weight)):
            if structure is not None:
                for tensor, label in zip(flatten(structure), leaf_names(structure, part)):
                    sizes[label] = int(tensor.shape[0])
        if len(set(sizes.values())) > 1:
            described = ", ".join(f"{label}: {n}" for label, n in sizes.items())
            fewest = min(sizes.values())
            raise ShapeError(
                "Data cardinality is ambiguous: every array needs the same number of samples "
                f"(first axis). Received {described}. Pair each input with its target: cut "
                f"both from one series with windows(series, look_back), or keep the first "
                f"{fewest} of each ({', '.join(f'{label}[:{fewest}]' for label in sizes)})."
            )
        num_samples = next(iter(sizes.values()))
        if num_samples == 0:
            raise ShapeError(
                f"`{x_name}` has 0 samples: arrays are (samples, ...) and need at least one "
                f"sample. Received {', '.join(f'{label}: 0' for label in sizes)}."
            )
        if check:
            check_finite(x, x_name)
            if y is not None:
                check_finite(y, y_name)
            if sample_weight is not None:
                check_finite(sample_weight, weight_name)
        return cls(x, y, sample_weight, num_samples)

    def split(self, validation_split: float) -> tuple[ArrayData, ArrayData]:
        """Training part and the last `validation_split` of the samples, as Keras splits."""
        split_at = int(math.floor(self.num_samples * (1.0 - validation_split)))
        if split_at in (0, self.num_samples):
            raise ConfigError(
                f"Training data contains {self.num_samples} samples, which is not sufficient to "
                f"split it into a validation and training set as specified by "
                f"validation_split={validation_split}."
            )
        return self._slice(0, split_at), self._slice(split_at, self.num_samples)

    def _slice(self, start: int, stop: int) -> ArrayData:
        def cut(structure: Structure) -> Structure:
            if structure is None:
                return None
            return pack(structure, iter(t[start:stop] for t in flatten(structure)))

        return ArrayData(cut(self.x), cut(self.y), cut(self.sample_weight), stop - start)

    def num_batches(self, batch_size: int) -> int:
        return math.ceil(self.num_samples / batch_size)

    def batches(self, batch_size: int, order: torch.Tensor | None = None) -> Iterator[Batch]:
        """`(x, y, sample_weight)` per batch, in `order` (sample indices) when given."""
        leaves = flatten(self.x)
        n_x = len(leaves)
        if self.y is not None:
            leaves += flatten(self.y)
        n_xy = len(leaves)
        if self.sample_weight is not None:
            leaves.append(self.sample_weight)
        if order is not None:
            leaves = [t[order.to(t.device)] for t in leaves]  # one gather per epoch
        single_x = isinstance(self.x, torch.Tensor)
        single_y = isinstance(self.y, torch.Tensor) or self.y is None
        for start in range(0, self.num_samples, batch_size):
            parts = [t[start : start + batch_size] for t in leaves]
            x = parts[0] if single_x else pack(self.x, iter(parts[:n_x]))
            if self.y is None:
                y = None
            else:
                y = parts[n_x] if single_y else pack(self.y, iter(parts[n_x:n_xy]))
            yield x, y, parts[n_xy] if self.sample_weight is not None else None


def epoch_order(
    num_samples: int, batch_size: int, shuffle: bool | str, generator: torch.Generator
) -> torch.Tensor | None:
    """Sample indices for one epoch: None (in order), a permutation, or Keras's "batch"
    shuffle (each batch keeps its samples, in a random order within the batch)."""
    if not shuffle:
        return None
    if shuffle == "batch":
        keys = (
            torch.rand(num_samples, generator=generator) + torch.arange(num_samples) // batch_size
        )
        return torch.argsort(keys)
    return torch.randperm(num_samples, generator=generator)


def class_weight_to_sample_weight(y: Structure, class_weight: dict[Any, float]) -> torch.Tensor:
    """Keras's mapping: each sample's class (argmax of one-hot rows, else the rounded id)."""
    if not isinstance(y, torch.Tensor):
        raise ConfigError("`class_weight` is only supported for models with a single output.")
    ids = y
    if ids.dim() > 1:
        ids = ids.squeeze(-1) if ids.shape[-1] == 1 else torch.argmax(ids, dim=-1)
    ids = torch.round(ids.float()).long() if ids.is_floating_point() else ids.long()
    if not isinstance(class_weight, dict) or not all(
        isinstance(k, (int, np.integer))
        and not isinstance(k, bool)
        and k >= 0
        and isinstance(w, (int, float, np.number))
        and not isinstance(w, (bool, complex, np.complexfloating))
        for k, w in class_weight.items()
    ):
        raise ConfigError(
            "`class_weight` maps class indices (non-negative ints) to weights, e.g. {0: 1.0, "
            f"1: 3.0}}. Received: class_weight={class_weight!r}"
        )
    # Classes missing from the dict weigh 1.0.
    largest = max(
        int(ids.max()) if ids.numel() else 0, max((int(k) for k in class_weight), default=0)
    )
    table = torch.ones(largest + 1, device=ids.device)
    for key, weight in class_weight.items():
        table[int(key)] = float(weight)
    return table[ids.clamp(min=0)]


def unpack_batch(item: Any) -> Batch:
    """`x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)` from a DataLoader.

    As in Keras, a tuple is always `(x, y[, sample_weight])`: a multi-input model's
    loader yields `((x1, x2), y)`.
    """
    if isinstance(item, (tuple, list)):
        if len(item) == 1:
            return item[0], None, None
        if len(item) == 2:
            return item[0], item[1], None
        if len(item) == 3:
            return item[0], item[1], item[2]
        raise ConfigError(
            "A DataLoader must yield x, (x, y) or (x, y, sample_weight). "
            f"Received a {type(item).__name__} of length {len(item)}."
        )
    return item, None, None


def loader_for(data: Any, batch_size: int, shuffle: bool | str, generator: torch.Generator) -> Any:
    """A DataLoader as it is; a Dataset wrapped in one with `batch_size` and `shuffle`.

    A map-style Dataset is batched by `EpochBatchSampler`: the order arrays get from the
    same generator, so a Dataset of windows trains as the windows' arrays do, and a
    distributed fit (which splits these very batches) sees the same global batches.
    """
    if isinstance(data, (torch.utils.data.DataLoader, BatchSource)):
        return data  # batched already
    if isinstance(data, torch.utils.data.IterableDataset):
        return torch.utils.data.DataLoader(
            data, batch_size=batch_size, shuffle=bool(shuffle), generator=generator
        )
    sampler = EpochBatchSampler(len(data), batch_size, shuffle, generator)
    return torch.utils.data.DataLoader(
        data, batch_sampler=sampler, generator=worker_seed_generator(generator)
    )


def worker_seed_generator(generator: torch.Generator) -> torch.Generator:
    """Where a DataLoader draws its workers' base seed each epoch: a generator seeded from
    `generator`'s seed, so that `generator` itself only draws the epochs' orders (the
    orders arrays get from the same seed)."""
    derived = torch.Generator()
    derived.manual_seed((generator.initial_seed() + 0x9E3779B97F4A7C15) % 2**63)
    return derived


class EpochBatchSampler(torch.utils.data.Sampler):  # type: ignore[type-arg]
    """The index list of each batch of an epoch, in `epoch_order`'s order.

    The order is drawn from `generator` when the first batch is asked for, as
    `epoch_order` draws it for arrays.
    """

    def __init__(
        self, num_samples: int, batch_size: int, shuffle: bool | str, generator: torch.Generator
    ) -> None:
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __iter__(self) -> Iterator[list[int]]:
        order = epoch_order(self.num_samples, self.batch_size, self.shuffle, self.generator)
        indices = order if order is not None else torch.arange(self.num_samples)
        for start in range(0, self.num_samples, self.batch_size):
            yield indices[start : start + self.batch_size].tolist()

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)


def is_loader(data: Any) -> bool:
    """Whether `data` comes in batches (or items) of its own rather than as arrays."""
    return isinstance(data, (torch.utils.data.DataLoader, torch.utils.data.Dataset, BatchSource))


def move_batch(
    structure: Structure, device: torch.device | None, float_dtype: torch.dtype = torch.float32
) -> Structure:
    """A DataLoader batch on `device`, floats as `float_dtype`."""
    if structure is None:
        return None
    if isinstance(structure, dict):
        return {k: move_batch(v, device, float_dtype) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [move_batch(v, device, float_dtype) for v in structure]
    tensor = (
        structure if isinstance(structure, torch.Tensor) else torch.as_tensor(np.asarray(structure))
    )
    if tensor.dtype != float_dtype and (tensor.is_floating_point() or tensor.dtype == torch.bool):
        tensor = tensor.to(float_dtype)
    return tensor.to(device, non_blocking=True) if device is not None else tensor


def batch_size_of(x: Structure) -> int:
    return int(flatten(x)[0].shape[0])


def loader_batches(
    loader: Any, place: Placement, class_weight: dict[Any, float] | None
) -> Iterator[Batch]:
    """`(x, y, sample_weight)` per DataLoader item, on the model's device."""
    for item in loader:
        x, y, sample_weight = unpack_batch(item)
        x, y = move_batch(x, *place), move_batch(y, *place)
        sample_weight = move_batch(sample_weight, *place)
        if class_weight is not None and y is not None:
            sample_weight = class_weight_to_sample_weight(y, class_weight)
        yield x, y, sample_weight


def concatenate(outputs: list[Any]) -> Any:
    """Per-batch predictions joined along the samples axis, as NumPy, keeping the structure."""
    first = outputs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([o.detach() for o in outputs]).cpu().numpy()
    if isinstance(first, dict):
        return {k: concatenate([o[k] for o in outputs]) for k in first}
    if isinstance(first, (list, tuple)):
        return [concatenate([o[i] for o in outputs]) for i in range(len(first))]
    return np.concatenate([np.asarray(o) for o in outputs])
