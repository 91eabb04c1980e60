"""Gate activations of one sample, step by step, from a recurrent layer's own weights.

The layer's input is what it receives inside the model: the model runs on the sample (in
eval mode, without gradients) until the layer is called, and stops there. Then the cell's
own step (`cell.step`, the kind's function in `ops.steps`) runs in float64 on copies of its
weights, keeping every gate of the step record: `LSTMStep(i, f, g, o, c, h)`,
`GRUStep(z, r, g, h)`, `SimpleRNNStep(h)`.

Example:
    >>> model = many_to_one(timesteps=12, features=1, units=8)
    >>> found = gate_activations(model, np.zeros((12, 1)))
    >>> sorted(found), found["f"].shape
    (['c', 'f', 'g', 'h', 'i', 'o'], (12, 8))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.explain.walk import find_recurrent, model_inputs
from unrolled.layers.cell import KernelCell
from unrolled.layers.symbolic import flatten
from unrolled.ops import phase

GATE_TITLES = {
    "i": "input gate i",
    "f": "forget gate f",
    "g": "candidate g",
    "o": "output gate o",
    "c": "cell state c",
    "h": "output h",
    "z": "update gate z",
    "r": "reset gate r",
}


class _Seen(Exception):
    """Stops the model once the layer has been handed its inputs."""


def gate_activations(model: Any, x_one_sample: Any, layer: Any = None) -> dict[str, np.ndarray]:
    """Each gate's values over the timesteps of one sample.

    Args:
        model: a built model holding LSTM, GRU or SimpleRNN layers.
        x_one_sample: one sample, `(timesteps, features)` for a sequence model (a leading
            samples axis of 1 is also accepted); a list of arrays for a model with several
            inputs.
        layer: which recurrent layer: None for the first, an index among the recurrent
            layers, a name, or the layer. A `Bidirectional` means its forward layer.

    Returns:
        `{"i", "f", "g", "o", "c", "h"}` for an LSTM (`{"z", "r", "g", "h"}` for a GRU,
        `{"h"}` for a SimpleRNN), each `(timesteps, units)` in the order the layer processes
        the steps (reversed for `go_backwards`). A masked step keeps `c` and `h` and has NaN
        gates. `h[-1]` is the layer's last output.

    Raises:
        ConfigError: no such layer, a cell other than LSTM/GRU/SimpleRNN, or a layer the
            model does not call on its inputs (e.g. inside `Feedback`).
        ShapeError: more than one sample.
    """
    name, rnn = find_recurrent(model, layer)
    cell = rnn.cell
    if not isinstance(cell, KernelCell):
        raise ConfigError(
            "gate_activations computes LSTM, GRU and SimpleRNN cells; "
            f"{name} runs a {type(cell).__name__}."
        )
    x = _one_sample(model, x_one_sample)
    inputs, states, mask = _inputs_of(model, rnn, name, x)
    weights = [
        None if w is None else w.detach().to("cpu", torch.float64)
        for w in (cell.kernel, cell.recurrent_kernel, cell.bias)
    ]
    x_seq = inputs.detach().to("cpu", torch.float64)[0]  # (T, F)
    valid = torch.ones(x_seq.shape[0], dtype=torch.bool) if mask is None else mask[0].cpu()
    if rnn.go_backwards:
        x_seq, valid = x_seq.flip(0), valid.flip(0)
    state_names = cell.kind.states
    if states is None:
        states = cell.get_initial_state(1)  # (1, U) each; a ConvLSTM's have spatial axes
    states = [s.detach().to("cpu", torch.float64)[:1] for s in states]  # [(1, U), ...]
    found: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for t in range(x_seq.shape[0]):
            step = cell.step(x_seq[t : t + 1], states, weights=weights)  # (1, U) each
            values = step._asdict()
            if bool(valid[t]):
                states = [values[state] for state in state_names]
            else:  # a masked step keeps the states and repeats the output
                values = {k: torch.full_like(v, float("nan")) for k, v in values.items()}
                values.update(zip(state_names, states))
            for key, value in values.items():
                found.setdefault(key, []).append(value[0].numpy())
    return {key: np.stack(rows) for key, rows in found.items()}  # (T, U) each


def _one_sample(model: Any, value: Any) -> list[torch.Tensor]:
    shapes = [shape for _, shape in model_inputs(model)]
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    tensors = []
    for array, shape in zip(values, shapes):
        x = torch.as_tensor(np.asarray(array) if not isinstance(array, torch.Tensor) else array)
        if shape is not None and x.dim() == len(shape) - 1:
            x = x.unsqueeze(0)  # (1, ...): one sample
        if x.shape[0] != 1:
            raise ShapeError(
                f"gate_activations explains one sample, e.g. x[0] of shape (timesteps, features); "
                f"received {shape_str(tuple(x.shape))}."
            )
        tensors.append(x.to(torch.get_default_dtype()) if x.is_floating_point() else x)
    return tensors


def _inputs_of(model: Any, rnn: Any, name: str, x: list[torch.Tensor]) -> tuple[Any, Any, Any]:
    """What `rnn` is handed when the model runs on `x`: inputs, initial states and mask."""
    seen: dict[str, Any] = {}

    def catch(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        seen["inputs"] = args[0] if args else kwargs.get("inputs")
        given = kwargs.get("initial_state")
        if given is not None:
            seen["states"] = [torch.as_tensor(s) for s in flatten(given)]
        elif rnn.stateful and rnn._state_names:
            seen["states"] = [getattr(rnn, n).detach().clone() for n in rnn._state_names]
        mask = kwargs.get("mask")
        if mask is not None:
            mask = torch.as_tensor(mask)
            mask = mask.squeeze(-1) if mask.dim() == 3 else mask
            seen["mask"] = mask != 0  # (samples, timesteps)
        raise _Seen

    modes = {module: module.training for module in model.modules()}
    buffers = {
        (module, key): value
        for module in model.modules()
        for key, value in module._buffers.items()
        if value is not None
    }
    reference = next(model.parameters(), None)
    if reference is not None:
        x = [
            t.to(reference.device, reference.dtype)
            if t.is_floating_point()
            else t.to(reference.device)
            for t in x
        ]
    handle = rnn.register_forward_pre_hook(catch, with_kwargs=True)
    phase.set_mode(model, False)
    try:
        with torch.no_grad():
            model(*x)
    except _Seen:
        pass
    finally:
        handle.remove()
        for module, mode in modes.items():
            module.training = mode
        for (module, key), value in buffers.items():  # stateful layers before it ran
            module._buffers[key] = value
    if "inputs" not in seen:
        raise ConfigError(
            f"{name} was not called when the model ran on the sample: a layer inside Feedback, "
            "or a Seq2Seq decoder given only the encoder's input, is stepped by its own loop. "
            "Pass every model input ([x, decoder_inputs] for a Seq2Seq) or choose another layer."
        )
    inputs = torch.as_tensor(seen["inputs"])
    if inputs.dim() != rnn.input_rank:  # 3: (samples, timesteps, features); more for ConvLSTM
        raise ShapeError(
            f"{name} received inputs of shape {shape_str(tuple(inputs.shape))}; expected "
            f"{getattr(rnn, 'input_words', '(samples, timesteps, features)')}."
        )
    return inputs, seen.get("states"), seen.get("mask")
