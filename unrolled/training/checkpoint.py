"""Resumable training: `fit(..., checkpoint=DIR)` continues where a killed run stopped.

At the end of every epoch the trainer writes one file, `DIR/checkpoint.safetensors`,
atomically (a kill mid-write leaves the previous one). It holds, as tensors and JSON only
(nothing is pickled, nothing runs on load):

- the module's `state_dict()` (weights and buffers, e.g. stateful layers' states),
- the torch optimizer's state (slots and step counts, keyed by parameter name, and its
  param groups, so a learning rate changed by a callback comes back too),
- the random generators: torch's (CPU and CUDA), NumPy's, Python's, the shuffling
  generator of `fit`, and any `torch.Generator` a submodule keeps (seeded dropout),
- the epoch reached, the history so far, and a fingerprint of the data and batching.

With those, the resumed run draws the same shuffling orders and dropout masks as an
uninterrupted one, so it ends with the same weights. Callbacks keep their own state
(EarlyStopping's patience counter, for one) in memory only, as Keras's BackupAndRestore.

This module knows `torch.nn.Module` and `torch.optim.Optimizer`, nothing of our layers.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import numpy as np
import torch

from unrolled import files, state_names
from unrolled.errors import ConfigError, FileFormatError

CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT = "unrolled.checkpoint"
FORMAT_VERSION = 1
_METADATA_KEY = "unrolled_checkpoint"


class FitCheckpoint:
    """The checkpoint of one `fit` call: restores it at the start, writes it after each epoch.

    Args:
        directory: created if missing; holds `checkpoint.safetensors`.
        fingerprint: what must match between the run that wrote the checkpoint and the one
            resuming it (sample count, batch size, shuffling), or the orders would differ.
    """

    def __init__(self, directory: str | os.PathLike[str], fingerprint: dict[str, Any]) -> None:
        self.directory = os.fspath(directory)
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ConfigError(
                f"`checkpoint` must be a directory; {self.directory!r} is a file. "
                "Pass a directory path (it is created if missing)."
            )
        os.makedirs(self.directory, exist_ok=True)
        self.path = os.path.join(self.directory, CHECKPOINT_FILE)
        self.fingerprint = fingerprint
        for stale in files.stale_temporaries(self.path):  # left by a run killed mid-write
            os.unlink(stale)

    def exists(self) -> bool:
        return os.path.isfile(self.path)

    # -- writing ----------------------------------------------------------------------------
    def save(
        self,
        module: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        generator: torch.Generator,
        epoch: int,
        history: Any,
        stopped: bool,
    ) -> None:
        """Writes the state after epoch `epoch` (0-based) has ended.

        In a distributed run only the first process writes (the others hold the same
        weights); every process reads the file when resuming.
        """
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            if torch.distributed.get_rank() != 0:
                return
        tensors = {f"module/{k}": v for k, v in module.state_dict().items()}
        info: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "epoch": int(epoch),
            "stopped": bool(stopped),
            "fingerprint": self.fingerprint,
            "history": {
                "epoch": list(getattr(history, "epoch", [])),
                "history": getattr(history, "history", {}),
            },
        }
        if optimizer is not None:
            optimizer_tensors, info["optimizer"] = optimizer_state(optimizer, module)
            tensors.update({f"optimizer/{k}": v for k, v in optimizer_tensors.items()})
        rng_tensors, info["rng"] = rng_state()
        tensors.update({f"rng/{k}": v for k, v in rng_tensors.items()})
        tensors["rng/shuffle"] = generator.get_state()
        tensors.update({f"rng/module/{k}": v for k, v in module_generators(module).items()})
        metadata = {_METADATA_KEY: json.dumps(info, default=_json_default)}
        files.write_bytes(self.path, files.tensors_to_bytes(tensors, metadata))

    # -- reading ----------------------------------------------------------------------------
    def restore(
        self,
        module: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        generator: torch.Generator,
    ) -> dict[str, Any]:
        """Loads the checkpoint into the module, optimizer and generators.

        Returns the checkpoint's info: `epoch` (the last one finished), `stopped`, `history`.

        Raises:
            FileFormatError: the file is damaged, from a newer version, or does not fit
                the module or optimizer. ConfigError: it was written for other data or
                batching.
        """
        what = f"Training checkpoint {self.path!r}"
        with open(self.path, "rb") as file:
            data = file.read()
        tensors, metadata = files.tensors_from_bytes(data, what)
        try:
            info = json.loads(metadata[_METADATA_KEY])
        except (KeyError, json.JSONDecodeError):
            raise FileFormatError(
                f"{what} has no checkpoint description; it is not ours."
            ) from None
        if info.get("format") != FORMAT:
            raise FileFormatError(
                f"{what} is not a training checkpoint (format {info.get('format')!r})."
            )
        if (
            not isinstance(info.get("format_version"), int)
            or info["format_version"] > FORMAT_VERSION
        ):
            raise FileFormatError(
                f"{what} was written by checkpoint format version {info.get('format_version')!r}; "
                f"this unrolled reads versions up to {FORMAT_VERSION}. Upgrade unrolled."
            )
        self._check_fingerprint(info.get("fingerprint", {}))
        parts = _split(tensors)
        load_module_state(module, parts.get("module", {}), what)
        if optimizer is not None and "optimizer" in info:
            load_optimizer_state(
                optimizer, module, parts.get("optimizer", {}), info["optimizer"], what
            )
        rng = parts.get("rng", {})
        set_rng_state(rng, info.get("rng", {}))
        generator.set_state(rng["shuffle"])
        set_module_generators(module, _split(rng).get("module", {}))
        return info

    @staticmethod
    def restore_history(history: Any, info: dict[str, Any]) -> None:
        """Puts the epochs the checkpoint had finished back into a `History`."""
        saved = info.get("history", {})
        history.epoch = list(saved.get("epoch", []))
        history.history = {key: list(values) for key, values in saved.get("history", {}).items()}

    def _check_fingerprint(self, saved: dict[str, Any]) -> None:
        for key, value in self.fingerprint.items():
            if key in saved and saved[key] != value:
                raise ConfigError(
                    f"The checkpoint in {self.directory!r} was written by a run with {key}="
                    f"{saved[key]!r}; this fit has {key}={value!r}, so it cannot continue that run "
                    "(the data order would differ). Use the same data and arguments, or another "
                    "checkpoint directory (delete this one to start over)."
                )


def _split(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    # "module/lstm.kernel" -> {"module": {"lstm.kernel": ...}}
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition("/")
        parts.setdefault(head, {})[rest] = value
    return parts


# -- module ------------------------------------------------------------------------------------


def load_module_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    """`module.load_state_dict(tensors)`, with every parameter checked first (names, shapes).

    Buffers are left to the module's own loading, which may create them (a stateful
    layer's states exist only once it has seen a batch). Names of an older layout are read
    as today's (`state_names`).
    """
    tensors = state_names.current_names(module, tensors)
    expected = {name: tuple(p.shape) for name, p in module.named_parameters()}
    files.check_shapes(expected, {k: v for k, v in tensors.items() if k in expected}, what)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise FileFormatError(f"{what} does not fit the module: {error}") from None


# -- optimizer -----------------------------------------------------------------------------------


def optimizer_state(
    optimizer: torch.optim.Optimizer, module: torch.nn.Module
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The optimizer's state as tensors named `<parameter name>/<slot>` and JSON.

    Parameters are named as in `module.named_parameters()`, so the state fits any module
    with the same parameter names, whatever order an optimizer lists them in.
    """
    names = _parameter_names(module)
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    groups = []
    for index, group in enumerate(optimizer.param_groups):
        params = []
        for parameter in group["params"]:
            name = names.get(id(parameter))
            if name is None:
                raise ConfigError(
                    "The optimizer holds a parameter that is not in the module, so its state "
                    "cannot be saved by name. Build the optimizer over module.parameters()."
                )
            params.append(name)
            for slot, value in optimizer.state.get(parameter, {}).items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{name}/{slot}"] = value
                else:
                    scalars.setdefault(name, {})[slot] = _json_value(value, f"state {slot!r}")
        options = {
            key: _json_value(value, f"param_groups[{index}][{key!r}]")
            for key, value in group.items()
            if key != "params"
        }
        groups.append({"params": params, "options": options})
    info = {"class": type(optimizer).__name__, "param_groups": groups, "scalars": scalars}
    return tensors, info


def load_optimizer_state(
    optimizer: torch.optim.Optimizer,
    module: torch.nn.Module,
    tensors: dict[str, torch.Tensor],
    info: dict[str, Any],
    what: str,
) -> None:
    """Loads `optimizer_state`'s output into `optimizer` (built over the same parameters).

    Raises:
        FileFormatError: other parameters, or a slot of the wrong shape; nothing is loaded.
    """
    # Parameter names of an older layout (`_layers.0.cell.kernel`) are read as today's.
    tensors = state_names.current_names(module, tensors)
    info = {
        **info,
        "param_groups": [_current_group(module, g) for g in info.get("param_groups", [])],
        "scalars": state_names.current_names(module, info.get("scalars", {})),
    }
    names = _parameter_names(module)
    parameters = dict(module.named_parameters())
    saved_groups = info.get("param_groups", [])
    current = [[names.get(id(p)) for p in group["params"]] for group in optimizer.param_groups]
    if [group.get("params") for group in saved_groups] != current:
        raise FileFormatError(
            f"{what}: its optimizer state was saved for the parameters "
            f"{[g.get('params') for g in saved_groups]}, but this optimizer has {current}. "
            "It was saved from a different model or with other trainable weights."
        )
    if info.get("class") != type(optimizer).__name__:
        raise FileFormatError(
            f"{what}: its optimizer state is from {info.get('class')}; this optimizer is "
            f"{type(optimizer).__name__}."
        )
    flat = [name for group in current for name in group]
    index_of = {name: i for i, name in enumerate(flat)}
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        name, _, slot = key.rpartition("/")
        if name not in index_of:
            raise FileFormatError(f"{what}: optimizer state {key!r} names no parameter.")
        shape = tuple(parameters[name].shape)
        if value.dim() > 0 and tuple(value.shape) != shape:
            raise FileFormatError(
                f"{what}: optimizer slot {key!r} has shape {tuple(value.shape)}; the weight has "
                f"shape {shape}."
            )
        state.setdefault(index_of[name], {})[slot] = value
    for name, slots in info.get("scalars", {}).items():
        if name not in index_of:
            raise FileFormatError(f"{what}: optimizer state for {name!r} names no parameter.")
        state.setdefault(index_of[name], {}).update(slots)
    groups = []
    for group, saved in zip(current, saved_groups):
        groups.append({**saved["options"], "params": [index_of[name] for name in group]})
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _current_group(module: torch.nn.Module, group: Any) -> Any:
    params = group.get("params") if isinstance(group, dict) else None
    if not isinstance(params, list) or not all(isinstance(name, str) for name in params):
        return group  # refused below, with the saved value in the message
    return {**group, "params": [state_names.current_name(module, name) for name in params]}


def _parameter_names(module: torch.nn.Module) -> dict[int, str]:
    return {id(p): name for name, p in module.named_parameters()}


def _json_default(value: Any) -> Any:
    # History logs may hold NumPy or 0-d torch numbers.
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v, where) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    raise ConfigError(
        f"Optimizer {where} holds a {type(value).__name__}, which cannot be saved as JSON."
    )


# -- random generators ---------------------------------------------------------------------------


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch's (CPU, and CUDA once initialized), NumPy's and Python's generator states."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda/{index}"] = state
    kind, keys, position, has_gauss, cached = np.random.get_state()
    tensors["numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    tensors["python"] = torch.tensor(internal, dtype=torch.int64)
    info = {
        "numpy": {
            "kind": kind,
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "cached": cached,
        },
        "python": {"version": version, "gauss_next": gauss_next},
    }
    return tensors, info


def set_rng_state(tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    """Restores what `rng_state` returned."""
    if "torch" in tensors:
        torch.set_rng_state(tensors["torch"])
    cuda = sorted((k for k in tensors if k.startswith("cuda/")), key=lambda k: int(k[5:]))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    if "numpy" in tensors and "numpy" in info:
        saved = info["numpy"]
        keys = tensors["numpy"].numpy().astype(np.uint32)
        np.random.set_state(
            (saved["kind"], keys, saved["pos"], saved["has_gauss"], saved["cached"])
        )
    if "python" in tensors and "python" in info:
        saved = info["python"]
        internal = tuple(int(v) for v in tensors["python"].tolist())
        random.setstate((saved["version"], internal, saved["gauss_next"]))


def module_generators(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state of every `torch.Generator` a submodule keeps, by `<module path>/<attribute>`."""
    states = {}
    for path, submodule in module.named_modules():
        for attribute, value in vars(submodule).items():
            if isinstance(value, torch.Generator):
                states[f"{path}/{attribute}"] = value.get_state()
    return states


def set_module_generators(module: torch.nn.Module, states: dict[str, torch.Tensor]) -> None:
    submodules = dict(module.named_modules())
    for key, state in states.items():
        path, _, attribute = key.rpartition("/")
        generator = vars(submodules[path]).get(attribute) if path in submodules else None
        if isinstance(generator, torch.Generator):
            generator.set_state(state)
