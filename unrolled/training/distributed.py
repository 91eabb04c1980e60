"""Data-parallel `fit` over several processes: torchrun, DistributedDataParallel, sharded batches.

`fit` runs unchanged under `torchrun --nproc_per_node=N script.py` (one machine) or
`torchrun --nnodes=M --node_rank=K --master_addr=HOST --master_port=PORT ...` (several):
with `fit(..., distributed="auto")` (the default) it finds the process group (already
initialized, or torchrun's `WORLD_SIZE`/`RANK`/`LOCAL_RANK` variables, then
`init_process_group` with gloo on CPU, nccl on CUDA) and then:

- **`batch_size` is the global batch**, as with tf.distribute: each global batch (the same
  samples, in the same order, as a single process would draw: the shuffling seed is rank
  0's) is split into contiguous parts, one per process, as evenly as possible. Each process
  runs its part through `DistributedDataParallel`, which averages the gradients, so every
  step equals the single-process step on the global batch.
- **Ragged batches.** A process's loss is its part's mean; before backward it is scaled by
  `rows * world_size / global_rows`, so the averaged gradient is the global batch's mean
  gradient even when parts differ in size (the last batch). A process whose part is empty
  (a last batch with fewer rows than processes) runs one row of that batch with weight 0,
  so every process joins every gradient exchange. This assumes the loss is a mean over the
  batch's samples (Keras's `sum_over_batch_size`, every built-in loss).
- **Stateful models** (`stateful_batch_size = N`, N divisible by the number of processes):
  process r keeps rows `[r*N/W, (r+1)*N/W)` of every batch, so row i of batch k+1 continues
  row i of batch k on the same process. Each process holds only its rows' states during
  `fit`; at the end they are gathered, and every process holds the full `(N, units)` states.
- **Logs are global.** The epoch's loss and metrics (Keras `Mean`-based: every built-in)
  are summed over processes, so EarlyStopping, ReduceLROnPlateau and the NaN check decide
  alike everywhere; a stop requested on any process stops them all. Batch-level logs
  handed to `on_train_batch_end` are the process's own.
- **Only rank 0 prints and writes files**: the progress bar and callback output show on
  rank 0, and ModelCheckpoint, CSVLogger and any callback with `primary_only = True` run
  on rank 0 only. Other callbacks run everywhere, with the same epoch logs; your own code
  can ask `is_primary()`.

Validation inside `fit` is sharded the same way; `evaluate` and `predict` called on their
own run every sample on every process (the weights are the same everywhere).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import inspect
import io
import math
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from unrolled.errors import ConfigError
from unrolled.training import data as data_module
from unrolled.training import stateful
from unrolled.training.callbacks import Callback, CallbackList, CSVLogger
from unrolled.training.data import ArrayData, Batch, Placement
from unrolled.training.metrics import Mean
from unrolled.training.monitor import ModelCheckpoint

TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK")

DDP = torch.nn.parallel.DistributedDataParallel
# Stateful layers keep per-row states in buffers: each process's rows differ, so buffers
# must not be overwritten with rank 0's at every forward (torch 2.13 renamed the option).
_NO_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
    else {"broadcast_buffers": False}
)


def setup(module: torch.nn.Module, distributed: bool | str) -> Replicas | None:
    """The process group to train `module` over, or None for single-process training.

    `distributed`: `"auto"` uses a process group when one is initialized or torchrun's
    variables are set and the world has more than one process; `True` requires one;
    `False` never uses one.

    Raises:
        ConfigError: `distributed=True` with no process group and no torchrun variables.
    """
    if distributed not in (True, False, "auto"):
        raise ConfigError(
            f"`distributed` must be True, False or 'auto'. Received: distributed={distributed!r}"
        )
    if distributed is False or not dist.is_available():
        if distributed is True:
            raise ConfigError("distributed=True, but this torch build has no torch.distributed.")
        return None
    launched = all(name in os.environ for name in TORCHRUN_VARIABLES)
    if not dist.is_initialized():
        if not launched:
            if distributed is True:
                raise ConfigError(
                    "distributed=True needs several processes: start the script with "
                    "`torchrun --nproc_per_node=N script.py`, or call "
                    "torch.distributed.init_process_group() before fit()."
                )
            return None
        if int(os.environ["WORLD_SIZE"]) < 2:
            return None
        _move_to_local_gpu(module)
        device = data_module.placement(module)[0]
        dist.init_process_group(
            backend="nccl" if device is not None and device.type == "cuda" else "gloo"
        )
        atexit.register(_destroy_process_group)
    elif launched:
        _move_to_local_gpu(module)
    if dist.get_world_size() < 2:
        return None
    return Replicas(module)


def _move_to_local_gpu(module: torch.nn.Module) -> None:
    # Every torchrun process on a machine sees all its GPUs: a model put on "cuda" would
    # land on GPU 0 in each of them. Process LOCAL_RANK takes GPU LOCAL_RANK instead.
    device = data_module.placement(module)[0]
    if device is None or device.type != "cuda" or torch.cuda.device_count() < 2:
        return
    local = torch.device("cuda", int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
    torch.cuda.set_device(local)
    if device != local:
        module.to(local)


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_primary() -> bool:
    """True in a single process, and on rank 0 of an initialized process group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def split(rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """`[start, stop)` of process `rank`'s contiguous part of `rows` rows, split as evenly
    as possible (the first `rows % world_size` processes take one more)."""
    base, extra = divmod(rows, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


@dataclasses.dataclass
class Plan:
    """One epoch of one process: its sample indices, batch by batch.

    `rows[k]` of `totals[k]` rows of global batch k are this process's; a process with an
    empty part gets one row of the batch to run with weight 0 (`rows[k] == 0`).
    """

    indices: list[torch.Tensor]
    rows: list[int]
    totals: list[int]


class Replicas:
    """This process's place in the group, and what `fit` does differently because of it."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        device = data_module.placement(module)[0]
        self.device = device
        # gloo reduces CPU tensors, nccl CUDA ones.
        self.comm_device = (
            device if dist.get_backend() == "nccl" and device is not None else torch.device("cpu")
        )
        self.ddp: torch.nn.Module | None = None
        self.rows = 0  # the current batch: this process's real rows ...
        self.total = 0  # ... of the global batch's rows
        self._full_batch: int | None = None  # a stateful module's global batch size
        self.batch_stops = False  # see `callbacks`

    @property
    def primary(self) -> bool:
        return self.rank == 0

    # ---- start and finish -------------------------------------------------------------

    def common_seed(self, seed: int) -> int:
        """Rank 0's seed, so every process draws the same shuffled order."""
        value = torch.tensor([seed], dtype=torch.int64, device=self.comm_device)
        dist.broadcast(value, src=0)
        return int(value.item())

    def start(self, batch_size: int) -> None:
        """Wraps the module in DistributedDataParallel (weights from rank 0) and, for a
        stateful module, keeps this process's rows of the states."""
        if batch_size < self.world_size:
            raise ConfigError(
                f"batch_size={batch_size} is the global batch, split over {self.world_size} "
                f"processes: it must be at least {self.world_size}."
            )
        fixed = stateful.fixed_batch_size(self.module)
        if fixed is not None and fixed % self.world_size:
            raise ConfigError(
                f"This stateful model's batch size {fixed} must be divisible by the number of "
                f"processes ({self.world_size}): each process keeps the same rows of every batch, "
                "so that row i of the next batch continues row i on the same process."
            )
        if not any(p.requires_grad for p in self.module.parameters()):
            raise ConfigError(
                f"{type(self.module).__name__} has no trainable parameters to train over "
                "several processes; build it (call it on a batch) before fit()."
            )
        device = self.device
        self.ddp = DDP(
            self.module,
            device_ids=[device] if device is not None and device.type == "cuda" else None,
            **_NO_BUFFER_SYNC,
        )
        if fixed is not None:
            # After DDP, which has copied rank 0's buffers (states included) everywhere.
            self._full_batch = fixed
            states = _state_methods(self.module)[0]()
            start, stop = split(fixed, self.rank, self.world_size)
            self._resize_states(stop - start, _map_arrays(lambda a: a[start:stop], states))

    def finish(self) -> None:
        """After the last epoch, on every process: the full states of a stateful module."""
        if self._full_batch is None:
            return
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, _state_methods(self.module)[0]())
        self._resize_states(self._full_batch, _concatenate_arrays(parts))
        self._full_batch = None

    def close(self) -> None:
        """Local clean-up (no communication): drops DDP; after an error, zero states at the
        full batch size, since the other processes' rows cannot be fetched."""
        self.ddp = None
        if self._full_batch is not None:
            _state_methods(self.module)[1](batch_size=self._full_batch)
            self._full_batch = None

    def _resize_states(self, batch: int, states: Any) -> None:
        get_states, reset_state, set_states = _state_methods(self.module)
        reset_state(batch_size=batch)
        if any(True for _ in _arrays(states)):
            set_states(states)

    # ---- data ---------------------------------------------------------------------------

    def plan(self, num_samples: int, batch_size: int, order: torch.Tensor | None) -> Plan:
        """This process's part of each global batch of `order` (None: in order)."""
        base = order if order is not None else torch.arange(num_samples)
        indices, rows, totals = [], [], []
        for begin in range(0, num_samples, batch_size):
            total = min(batch_size, num_samples - begin)
            start, stop = split(total, self.rank, self.world_size)
            if stop > start:
                indices.append(base[begin + start : begin + stop])
            else:
                indices.append(base[begin : begin + 1])  # weight 0, see the module docstring
            rows.append(stop - start)
            totals.append(total)
        return Plan(indices, rows, totals)

    def array_batches(
        self, data: ArrayData, batch_size: int, order: torch.Tensor | None = None
    ) -> Iterator[Batch]:
        """This process's parts of the global batches of `data`, one gather per epoch."""
        plan = self.plan(data.num_samples, batch_size, order)
        if not plan.indices:
            return
        local = torch.cat(plan.indices)
        # Every part but the last has the size of the first: slicing by that size cuts them.
        view = dataclasses.replace(data, num_samples=len(local))
        batches = view.batches(len(plan.indices[0]), local)
        for batch, rows, total in zip(batches, plan.rows, plan.totals):
            self.rows, self.total = rows, total
            yield batch

    def loader(self, data: Any, batch_size: int, shuffle: bool | str, generator: Any) -> Any:
        """A DataLoader over this process's parts of the global batches of `data`.

        A Dataset gets a `ShardedBatchSampler`; a DataLoader is rebuilt around its dataset
        with one (its `batch_size` is the global batch) unless its sampler is a
        `DistributedSampler`, which shards already (its batch size is then per process).
        """
        if isinstance(data, torch.utils.data.DataLoader):
            if isinstance(data.sampler, torch.utils.data.distributed.DistributedSampler):
                return data
            if data.batch_size is None or isinstance(
                data.dataset, torch.utils.data.IterableDataset
            ):
                raise ConfigError(
                    "Distributed fit() shards a DataLoader by its dataset and batch_size; this "
                    "one has a custom batch_sampler or an IterableDataset. Give a map-style "
                    "Dataset, or a DataLoader with a DistributedSampler."
                )
            shuffle = isinstance(data.sampler, torch.utils.data.RandomSampler)
            if data.generator is not None:
                generator = data.generator
            sampler = ShardedBatchSampler(
                self,
                len(data.dataset),  # type: ignore[arg-type]
                data.batch_size,
                shuffle,
                generator,
            )
            options = {
                "generator": data_module.worker_seed_generator(generator),
                "num_workers": data.num_workers,
                "collate_fn": data.collate_fn,
                "pin_memory": data.pin_memory,
                "worker_init_fn": data.worker_init_fn,
                "persistent_workers": data.persistent_workers,
            }
            if data.num_workers:
                options["prefetch_factor"] = data.prefetch_factor
            return torch.utils.data.DataLoader(data.dataset, batch_sampler=sampler, **options)
        if isinstance(data, torch.utils.data.IterableDataset):
            raise ConfigError(
                "Distributed fit() cannot shard an IterableDataset; use a map-style Dataset."
            )
        sampler = ShardedBatchSampler(self, len(data), batch_size, shuffle, generator)
        return torch.utils.data.DataLoader(
            data, batch_sampler=sampler, generator=data_module.worker_seed_generator(generator)
        )

    def loader_batches(
        self, loader: Any, place: Placement, class_weight: dict[Any, float] | None
    ) -> Iterator[Batch]:
        sampler = loader.batch_sampler
        for index, batch in enumerate(data_module.loader_batches(loader, place, class_weight)):
            if isinstance(sampler, ShardedBatchSampler):
                self.rows, self.total = sampler.plan.rows[index], sampler.plan.totals[index]
            else:  # a DistributedSampler: equal parts, padded by the sampler
                self.rows = data_module.batch_size_of(batch[0])
                self.total = self.rows * self.world_size
            yield batch

    # ---- steps --------------------------------------------------------------------------

    def objective(self, data_loss: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        """What this process differentiates: its data loss weighted by its share of the
        global batch (DDP's average then gives the global mean), plus the regularization
        (the same on every process)."""
        scale = self.rows * self.world_size / self.total
        if scale == 1.0:
            return loss
        return loss + (scale - 1.0) * data_loss

    def agree(self, stop: bool) -> bool:
        """True on every process when any process asks to stop."""
        flag = torch.tensor([1 if stop else 0], dtype=torch.int32, device=self.comm_device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    # ---- logs ---------------------------------------------------------------------------

    def reduce(self, trainer: Any) -> None:
        """The trainer's loss trackers and metrics summed over processes, in place."""
        for tracker in [trainer.loss_tracker, *trainer.compiled_loss.trackers]:
            self._reduce_tracker(tracker)
        for metric in trainer.compiled_metrics.all():
            if isinstance(metric, Mean):
                self._reduce_mean(metric)

    def _reduce_tracker(self, tracker: Any) -> None:
        # Per batch: the rows-weighted sum of the processes' means, and the global rows.
        count = len(tracker.values)
        if count == 0:
            return
        values = torch.stack(tracker.values).float().to(self.comm_device)
        sizes = torch.tensor(tracker.sizes, dtype=torch.float32, device=self.comm_device)
        both = torch.stack([torch.where(sizes > 0, values * sizes, values.new_zeros(())), sizes])
        dist.all_reduce(both)
        weighted, sizes = both[0], both[1]
        means = weighted / sizes.clamp(min=1.0)
        tracker.values = list(means.to(tracker.values[0].device).unbind(0))
        tracker.sizes = [int(s) for s in sizes.tolist()]

    def _reduce_mean(self, metric: Mean) -> None:
        metric.result()  # a DeferredMean computes its pending batches
        total = metric._total
        count = metric._count
        weighted = metric._weighted_count
        sums = torch.zeros(2, dtype=torch.float64, device=self.comm_device)
        if total is not None:
            sums[0] = total.detach().double().to(self.comm_device)
        sums[1] = float(count) + (0.0 if weighted is None else float(weighted))
        dist.all_reduce(sums)
        device = total.device if total is not None else self.device or torch.device("cpu")
        metric._total = sums[0].float().to(device)
        metric._count = float(sums[1])
        metric._weighted_count = None

    # ---- callbacks ----------------------------------------------------------------------

    def callbacks(
        self, callbacks: Iterable[Callback], model: Any, trainer: Any, params: dict[str, Any]
    ) -> CallbackList:
        """Rank 0: every callback. Others: those not `primary_only`, with output silenced.

        Sets `batch_stops`: whether any callback, on any process, has a training batch
        hook (and so may stop training mid-epoch); the processes then agree on stopping
        after every batch.
        """
        callbacks = list(callbacks)
        everything = CallbackList(callbacks, model, trainer, params)
        self.batch_stops = everything.wants("on_train_batch_begin") or everything.wants(
            "on_train_batch_end"
        )
        if self.primary:
            return everything
        kept = [c for c in callbacks if not primary_only(c)]
        return QuietCallbackList(kept, model, trainer, params)


def primary_only(callback: Callback) -> bool:
    """Whether `callback` runs on rank 0 only: it writes files (ModelCheckpoint, CSVLogger),
    or its class or instance sets `primary_only = True`."""
    return bool(
        getattr(callback, "primary_only", isinstance(callback, (ModelCheckpoint, CSVLogger)))
    )


class QuietCallbackList(CallbackList):
    """Callbacks whose printing is discarded (on processes other than rank 0)."""

    def batch(self, hook: str, batch: int, logs: Any) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            super().batch(hook, batch, logs)

    def call(self, hook: str, *args: Any) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            super().call(hook, *args)


class ShardedBatchSampler(torch.utils.data.Sampler):  # type: ignore[type-arg]
    """Yields this process's index list of each global batch (see `Replicas.plan`).

    The epoch's order is drawn as `data.EpochBatchSampler` draws it for one process, from
    the generator every process seeded alike; `plan` then tells the rows of each batch.
    """

    def __init__(
        self,
        replicas: Replicas,
        num_samples: int,
        batch_size: int,
        shuffle: bool | str,
        generator: torch.Generator,
    ) -> None:
        self.replicas = replicas
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.plan = Plan([], [], [])

    def __iter__(self) -> Iterator[list[int]]:
        # Drawn at the first batch, as `data.EpochBatchSampler` draws for a single process.
        order = data_module.epoch_order(
            self.num_samples, self.batch_size, self.shuffle, self.generator
        )
        self.plan = self.replicas.plan(self.num_samples, self.batch_size, order)
        for indices in self.plan.indices:
            yield indices.tolist()

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)


def _state_methods(module: Any) -> tuple[Any, Any, Any]:
    methods = tuple(
        getattr(module, name, None) for name in ("get_states", "reset_state", "set_states")
    )
    if not all(callable(m) for m in methods):
        raise ConfigError(
            f"Distributed training of a stateful {type(module).__name__} shards its states by rows: "
            "the module needs get_states(), set_states(states) and reset_state(batch_size=N) "
            "(unrolled models have them)."
        )
    return methods  # type: ignore[return-value]


def _arrays(structure: Any) -> Iterator[np.ndarray]:
    if isinstance(structure, dict):
        for value in structure.values():
            yield from _arrays(value)
    elif isinstance(structure, (list, tuple)):
        for value in structure:
            yield from _arrays(value)
    else:
        yield structure


def _map_arrays(function: Any, structure: Any) -> Any:
    if isinstance(structure, dict):
        return {key: _map_arrays(function, value) for key, value in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_map_arrays(function, value) for value in structure]
    return function(structure)


def _concatenate_arrays(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return {key: _concatenate_arrays([p[key] for p in parts]) for key in first}
    if isinstance(first, (list, tuple)):
        return [_concatenate_arrays([p[i] for p in parts]) for i in range(len(first))]
    return np.concatenate(parts, axis=0)
