"""Real Keras 3 as the reference for `unrolled`'s non-recurrent layers and wrappers.

Helpers give both sides the same weights (drawn once, set with each library's own
`set_weights`), run them on the same data, and compare outputs *and* the masks the
layers attach (`_keras_mask`, which Keras's torch backend also uses). Nothing here
re-implements a layer: the numbers and masks come from Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from oracles.keras_oracle import flatten  # also selects the torch backend

TOL = {"atol": 1e-5, "rtol": 1e-5}

#: Keras-side arguments for recurrent layers: its generic step loop, the masking reference
#: (and Keras 3.15's stateful LSTM/GRU need it).
KERAS_RNN = {"LSTM": {"use_cudnn": False}, "GRU": {"use_cudnn": False}, "SimpleRNN": {}}


def random_weights(rng: np.random.Generator, keras_layer: Any, scale: float = 0.5) -> list:
    """Normal draws in the shapes of `keras_layer.get_weights()`, float32."""
    return [
        (rng.normal(size=w.shape) * scale).astype(np.float32) for w in keras_layer.get_weights()
    ]


def share_weights(rng: np.random.Generator, keras_layer: Any, our_layer: Any) -> list:
    """Draws weights in Keras's layout and sets them on both (both must be built)."""
    weights = random_weights(rng, keras_layer)
    keras_layer.set_weights(weights)
    our_layer.set_weights(weights)
    return weights


def mask_of(tensor: Any) -> np.ndarray | None:
    mask = getattr(tensor, "_keras_mask", None)
    return None if mask is None else mask.detach().cpu().numpy()


def assert_same(ours: Any, theirs: Any, tol: dict[str, float] = TOL) -> None:
    """Same output structure, values (to `tol`) and attached masks, leaf by leaf."""
    our_leaves, their_leaves = flatten(ours), flatten(theirs)
    assert len(our_leaves) == len(their_leaves), (len(our_leaves), len(their_leaves))
    for index, (a, b) in enumerate(zip(our_leaves, their_leaves)):
        a_np = a.detach().cpu().numpy()
        b_np = b.detach().cpu().numpy()
        assert a_np.shape == b_np.shape, (index, a_np.shape, b_np.shape)
        np.testing.assert_allclose(a_np, b_np, **tol, err_msg=f"output {index}")
        ours_mask, their_mask = mask_of(a), mask_of(b)
        assert (ours_mask is None) == (their_mask is None), (
            f"output {index}: mask {ours_mask} vs Keras {their_mask}"
        )
        if their_mask is not None:
            np.testing.assert_array_equal(ours_mask, their_mask, err_msg=f"mask {index}")


def with_mask(x: np.ndarray, mask: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two tensors holding `x` (ours, Keras's), each carrying `mask` as Keras attaches it."""
    tensors = (torch.from_numpy(x.copy()), torch.from_numpy(x.copy()))
    if mask is not None:
        for t in tensors:
            t._keras_mask = torch.from_numpy(mask.copy())
    return tensors


def symbolic_shapes(outputs: Any) -> list[tuple[int | None, ...]]:
    """Shapes of Keras's KerasTensors or our SymbolicTensors, flattened."""
    return [
        tuple(t.shape) for t in flatten(list(outputs) if isinstance(outputs, tuple) else outputs)
    ]
