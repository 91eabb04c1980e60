"""Real Keras 3 as the reference for `unrolled`'s recurrent layers.

Every helper here builds the genuine `keras.layers` object with the arguments a
test gives `unrolled`, copies the same weights in with Keras's own
`set_weights`, runs it on the same inputs, mask and initial state, and hands
back NumPy arrays. Nothing in this module re-implements recurrent math: the
numbers come from Keras.

Keras runs on its torch backend (selected below, before the first `import
keras`), so its layers are `torch.nn.Module`s and gradients come from torch
autograd through the Keras variables' `.value` parameters.

Two arguments are not passed through to Keras, on purpose:

* `use_cudnn`: Keras always gets `use_cudnn=False`, i.e. its generic step loop
  (`keras.src.backend.torch.rnn.rnn`), which is the definition of the masking,
  `go_backwards` and `zero_output_for_mask` semantics. On a CPU the
  `"auto"` setting only swaps in a precomputed-projection loop with the same
  math (and Keras 3.15's stateful LSTM/GRU need `use_cudnn=False` anyway).
  `unrolled`'s `use_cudnn` chooses *its* path; both are compared with this one
  reference.
* `unroll`: Keras always gets `unroll=False`. Its torch-backend unrolled branch
  has the same semantics but crashes for `go_backwards=True` with a mask
  (`torch.flip` on a tuple), so it cannot serve as a reference there.
"""

from __future__ import annotations

import hashlib
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from collections.abc import Sequence  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

if keras.backend.backend() != "torch":  # pragma: no cover - environment guard
    raise RuntimeError(
        "The Keras oracle needs the torch backend, but KERAS_BACKEND="
        f"{os.environ.get('KERAS_BACKEND')!r} selected {keras.backend.backend()!r}. "
        "Unset KERAS_BACKEND or set it to 'torch' before running the tests."
    )

KERAS_VERSION = keras.__version__

#: Layer kinds and the number of gate blocks in their kernels.
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
#: Number of state tensors each kind carries.
N_STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}
CELL_KIND = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}

#: Keras-side arguments that are forced rather than passed through (see module doc).
_KERAS_FORCED = {"use_cudnn": False, "unroll": False}
_CELL_ONLY_ARGS = {
    "activation",
    "recurrent_activation",
    "use_bias",
    "unit_forget_bias",
    "dropout",
    "recurrent_dropout",
    "seed",
    "reset_after",
}

MASK_PATTERNS = (
    "none",
    "post_padding",
    "post_padding_all_short",
    "pre_padding",
    "holes",
    "fully_masked_row",
    "all_valid",
    "mixed",
)


# --------------------------------------------------------------------------- data


def rng_for(*key: Any) -> np.random.Generator:
    """A NumPy generator seeded from any hashable description of a test case.

    Uses a stable digest (not `hash`, which is salted per process for strings).
    """
    seed = int.from_bytes(hashlib.sha256(repr(key).encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def random_inputs(
    rng: np.random.Generator, batch: int, timesteps: int, features: int
) -> np.ndarray:
    return rng.normal(size=(batch, timesteps, features)).astype(np.float32)


def random_weights(
    rng: np.random.Generator,
    kind: str,
    input_dim: int,
    units: int,
    *,
    use_bias: bool = True,
    reset_after: bool = True,
    scale: float = 0.5,
) -> list[np.ndarray]:
    """Keras-layout weights `[kernel, recurrent_kernel(, bias)]`, float32.

    Normal draws times `scale` keep gates away from saturation for the small
    sizes used in tests, so differences in the math are visible.
    """
    gates = GATES[kind]
    weights = [
        (rng.normal(size=(input_dim, gates * units)) * scale).astype(np.float32),
        (rng.normal(size=(units, gates * units)) * scale).astype(np.float32),
    ]
    if use_bias:
        shape = (2, gates * units) if kind == "GRU" and reset_after else (gates * units,)
        weights.append((rng.normal(size=shape) * scale).astype(np.float32))
    return weights


def random_states(rng: np.random.Generator, kind: str, batch: int, units: int) -> list[np.ndarray]:
    """`[h, c]` for LSTM, `[h]` otherwise, in a range the layer itself could produce."""
    return [
        (np.tanh(rng.normal(size=(batch, units)))).astype(np.float32) for _ in range(N_STATES[kind])
    ]


def _lengths(batch: int, timesteps: int) -> np.ndarray:
    # Full length first, then a length-1 row, then lengths in between.
    cycle = [timesteps, 1, timesteps - 2, timesteps // 2, timesteps - 1, 2]
    return np.clip(np.array([cycle[i % len(cycle)] for i in range(batch)]), 1, timesteps)


def make_mask(
    pattern: str, batch: int, timesteps: int, rng: np.random.Generator | None = None
) -> np.ndarray | None:
    """A `(batch, timesteps)` bool mask of a named shape, or `None` for "none".

    post_padding            valid steps first, padding after (right-padded, the
                            only kind cuDNN takes); row 0 is full length, row 1
                            has one valid step.
    post_padding_all_short  right-padded and *no* row reaches the last step, so
                            a packed-sequence kernel must pad back to T steps.
    pre_padding             padding first, valid steps after (left-padded).
    holes                   masked steps strictly inside rows whose first and
                            last steps are valid (neither kind of padding).
    fully_masked_row        right-padded, and row 1 (or the only row) has no
                            valid step at all.
    all_valid               every step valid: must equal the unmasked result.
    mixed                   rows of different kinds in one batch, cycling through
                            right-padded, left-padded, holes, empty, all valid.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    steps = np.arange(timesteps)
    if pattern == "none":
        return None
    if pattern == "all_valid":
        return np.ones((batch, timesteps), dtype=bool)
    if pattern in ("post_padding", "pre_padding", "fully_masked_row", "post_padding_all_short"):
        lengths = _lengths(batch, timesteps)
        if pattern == "post_padding_all_short":
            lengths = np.clip(lengths - 1, 1, max(1, timesteps - 1))
        if pattern == "fully_masked_row":
            lengths[1 if batch > 1 else 0] = 0
        if pattern == "pre_padding":
            return steps[None, :] >= (timesteps - lengths)[:, None]
        return steps[None, :] < lengths[:, None]
    if pattern == "holes":
        mask = np.ones((batch, timesteps), dtype=bool)
        if timesteps >= 3:
            middle = np.arange(1, timesteps - 1)
            for i in range(batch):
                count = 1 + i % len(middle)
                mask[i, rng.choice(middle, size=count, replace=False)] = False
        else:
            mask[1:, 0] = False  # no middle to punch: rows after the first start masked
        return mask
    if pattern == "mixed":
        # Row kinds in turn: right-padded, left-padded, holes, empty, all valid.
        holes = make_mask("holes", batch, timesteps, rng)
        mask = np.empty((batch, timesteps), dtype=bool)
        for i in range(batch):
            length = max(1, timesteps - 1 - i % 2)
            mask[i] = [
                steps < length,
                steps >= timesteps - length,
                holes[i],
                np.zeros(timesteps, dtype=bool),
                np.ones(timesteps, dtype=bool),
            ][i % 5]
        return mask
    raise ValueError(f"unknown mask pattern {pattern!r}")


# --------------------------------------------------------------------------- tensors


def to_torch(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [to_torch(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))


def flatten(structure: Any) -> list[Any]:
    """Leaves of nested lists/tuples, in order (Keras's `tree.flatten` order)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def nesting(structure: Any) -> Any:
    """The list/tuple skeleton of a structure with leaves replaced by their shapes."""
    if isinstance(structure, (list, tuple)):
        return [nesting(item) for item in structure]
    return tuple(structure.shape)


def to_numpy(structure: Any) -> list[np.ndarray]:
    return [
        leaf.detach().cpu().numpy() if isinstance(leaf, torch.Tensor) else np.asarray(leaf)
        for leaf in flatten(structure)
    ]


def weighted_sum(flat_outputs: Sequence[torch.Tensor], seed: int = 1234) -> torch.Tensor:
    """A scalar loss `sum_k <w_k, y_k>` with fixed random cotangents `w_k`.

    Used on both sides of a gradient comparison, so each output and state
    contributes its own, distinguishable gradient.
    """
    rng = np.random.default_rng(seed)
    total = torch.zeros((), dtype=torch.float32)
    for y in flat_outputs:
        w = torch.from_numpy(rng.normal(size=tuple(y.shape)).astype(np.float32))
        total = total + (y * w).sum()
    return total


# --------------------------------------------------------------------------- layers


_LAYERS: dict[str, keras.layers.Layer] = {}


def keras_layer(
    kind: str,
    units: int,
    weights: Sequence[np.ndarray] | None,
    input_shape: tuple[int, int, int],
    **kwargs: Any,
) -> keras.layers.Layer:
    """The Keras layer `keras.layers.<kind>(units, **kwargs)`, built, weights copied in.

    A layer without `stateful=True` keeps nothing between calls, so one built layer per
    distinct configuration is reused (only its weights change); constructing and building
    a Keras layer costs more than calling it. Stateful layers are always new.
    """
    kwargs = {**kwargs, **_KERAS_FORCED}
    if kind == "SimpleRNN":
        kwargs.pop("use_cudnn")  # Keras's SimpleRNN has no cuDNN switch
    key = repr((kind, units, tuple(input_shape), sorted(kwargs.items())))
    layer = None if kwargs.get("stateful") else _LAYERS.get(key)
    if layer is None:
        layer = getattr(keras.layers, kind)(units, **kwargs)
        layer.build(tuple(input_shape))
        if not kwargs.get("stateful"):
            _LAYERS[key] = layer
    if weights is not None:
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return layer


def keras_cell(kind: str, units: int, **kwargs: Any) -> keras.layers.Layer:
    """A Keras cell, `kind` being "LSTMCell", "GRUCell" or "SimpleRNNCell"."""
    return getattr(keras.layers, kind)(units, **kwargs)


def keras_rnn(
    cells: keras.layers.Layer | Sequence[keras.layers.Layer],
    weights: Sequence[np.ndarray] | None,
    input_shape: tuple[int, int, int],
    **kwargs: Any,
) -> keras.layers.Layer:
    """`keras.layers.RNN(cells, **kwargs)`, built, weights copied in (cell by cell order)."""
    kwargs = {k: v for k, v in kwargs.items() if k not in ("use_cudnn",)}
    kwargs["unroll"] = False
    layer = keras.layers.RNN(list(cells) if isinstance(cells, (list, tuple)) else cells, **kwargs)
    layer.build(tuple(input_shape))
    if weights is not None:
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
    return layer


def keras_call(
    layer: keras.layers.Layer,
    x: Any,
    *,
    mask: Any = None,
    initial_state: Any = None,
    training: bool | None = False,
) -> Any:
    """Calls the Keras layer on torch tensors; returns its raw (torch) output structure."""
    kwargs: dict[str, Any] = {"training": bool(training)}
    if mask is not None:
        kwargs["mask"] = to_torch(mask)
    if initial_state is not None:
        kwargs["initial_state"] = to_torch(initial_state)
    return layer(to_torch(x), **kwargs)


def keras_run(layer: keras.layers.Layer, x: Any, **call_kwargs: Any) -> list[np.ndarray]:
    """`keras_call` with the output structure flattened to NumPy arrays."""
    with torch.no_grad():
        return to_numpy(keras_call(layer, x, **call_kwargs))


def keras_states(layer: keras.layers.Layer) -> list[np.ndarray]:
    """The stateful layer's current states, flattened, as NumPy (zeros before the first call)."""
    return [np.array(v.numpy()) for v in flatten(layer.states)]


def keras_reset_states(layer: keras.layers.Layer) -> None:
    """Zeros a stateful layer's states, as `layer.reset_state()` means to.

    Keras 3.15's `RNN.reset_state` iterates `self.states` without flattening it and
    so raises `AttributeError: 'list' object has no attribute 'assign'` for stacked
    cells (nested states); this zeros the flattened variables instead.
    """
    for variable in flatten(layer.states):
        variable.assign(np.zeros(tuple(variable.shape), dtype=np.float32))


def keras_set_states(layer: keras.layers.Layer, states: Sequence[np.ndarray]) -> None:
    for variable, value in zip(flatten(layer.states), states, strict=True):
        variable.assign(np.asarray(value, dtype=np.float32))


def keras_trainable_tensors(layer: keras.layers.Layer) -> list[torch.Tensor]:
    """The torch parameters behind the layer's weights, in `get_weights` order."""
    return [v.value for v in layer.weights]


def keras_gradients(
    layer: keras.layers.Layer,
    x: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    initial_state: Sequence[np.ndarray] | None = None,
    seed: int = 1234,
    training: bool = False,
) -> dict[str, Any]:
    """Gradients of `weighted_sum(outputs)` by torch autograd through Keras.

    Returns `{"outputs": [...], "x": dx, "weights": [dW...], "initial_state": [dh0...]}`
    as NumPy, weights in `get_weights` order, initial-state gradients flattened.
    """
    x_t = torch.from_numpy(np.array(x, dtype=np.float32)).requires_grad_()
    leaves: list[torch.Tensor] = []

    def leaf(value: Any) -> Any:  # nested initial states (stacked cells) keep their nesting
        if isinstance(value, (list, tuple)):
            return [leaf(v) for v in value]
        tensor = torch.from_numpy(np.array(value, dtype=np.float32)).requires_grad_()
        leaves.append(tensor)
        return tensor

    states = None if initial_state is None else leaf(list(initial_state))
    params = keras_trainable_tensors(layer)
    out = keras_call(layer, x_t, mask=mask, initial_state=states, training=training)
    flat = flatten(out)
    loss = weighted_sum(flat, seed)
    inputs = [x_t, *params, *leaves]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    grads = [
        np.zeros(tuple(t.shape), np.float32) if g is None else g.detach().numpy()
        for g, t in zip(grads, inputs)
    ]
    return {
        "outputs": to_numpy(flat),
        "x": grads[0],
        "weights": grads[1 : 1 + len(params)],
        "initial_state": grads[1 + len(params) :],
    }
