"""`MultiHeadAttention`: Keras 3's multi-head attention ("Attention is all you need").

Weights keep Keras's EinsumDense layout, so `get_weights()` lists, in order, the `query`,
`key`, (`gate`,) `value` and `attention_output` projections, each kernel then bias.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unrolled import constraints, initializers, regularizers
from unrolled.errors import ConfigError, ShapeError, positive_int, rate, shape_str
from unrolled.layers.attention import sizes_agree
from unrolled.layers.base import Layer, get_mask
from unrolled.layers.coerce import as_input
from unrolled.layers.dropout import Dropout
from unrolled.layers.weight_names import name_weight
from unrolled.ops.masks import check_step_mask, mask_shape

Shape = tuple[int | None, ...]


class Projection(nn.Module):
    """One EinsumDense of the layer: a kernel in Keras's layout and an optional bias.

    `split`: `(samples, ..., dim) -> (samples, ..., heads, size)` with kernel
    `(dim, heads, size)` (query, key, value, gate). `merge`: `(samples, ..., heads, size)
    -> (samples, ..., *output_shape)` with kernel `(heads, size, *output_shape)`.
    """

    # Its weights answer Keras's names and paths (`mha/query/kernel`): weight_names gives it
    # the scope of the layer that holds it, as for a sub-layer.
    _names_weights = True

    def __init__(
        self,
        kernel_shape: Sequence[int],
        bias_shape: Sequence[int] | None,
        owner: Any,
        name: str,
    ) -> None:
        super().__init__()
        self.name = name  # Keras's sub-layer name: query, key, value, gate, attention_output
        # Each projection draws its own weights from the owner's initializers, as Keras clones them.
        self.kernel = nn.Parameter(_draw(owner.kernel_initializer, kernel_shape, owner))
        self.bias = (
            None
            if bias_shape is None
            else nn.Parameter(_draw(owner.bias_initializer, bias_shape, owner))
        )
        for weight_name, weight in (("kernel", self.kernel), ("bias", self.bias)):
            if weight is not None:
                name_weight(self, weight_name, weight)
        # Read by the training loop (Layer.regularization_losses / apply_constraints).
        self.kernel_regularizer = owner.kernel_regularizer
        self.bias_regularizer = owner.bias_regularizer
        self.kernel_constraint = owner.kernel_constraint
        self.bias_constraint = owner.bias_constraint

    def split(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("...d,dhs->...hs", x, self.kernel)  # (samples, ..., heads, size)
        return y if self.bias is None else y + self.bias

    def merge(self, x: torch.Tensor) -> torch.Tensor:
        out = self.kernel.shape[2:]
        kernel = self.kernel.reshape(*self.kernel.shape[:2], -1)  # (heads, size, prod(out))
        y = torch.einsum("...hs,hso->...o", x, kernel).unflatten(-1, out)  # (samples, ..., *out)
        return y if self.bias is None else y + self.bias


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention, with Keras 3's arguments and weight layout.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value; None means `key_dim`.
        dropout: fraction of the attention weights dropped in training.
        use_bias: give the projections biases.
        output_shape: the output's last axes (an int or tuple); None projects back to the
            query's features.
        attention_axes: the input axes attended over (an int or tuple, counted on the
            inputs); None means every axis between the samples and the features.
        sliding_window: None, or a positive int: query step i sees key steps with
            `|i - j| < sliding_window`.
        flash_attention: accepted for Keras code; the computation is the same either way.
        kernel_initializer, bias_initializer: for every projection, as in Keras.
        kernel_regularizer, bias_regularizer: likewise.
        kernel_constraint, bias_constraint: likewise.
        use_gate: a sigmoid gate on the heads' outputs, projected from the query.
        seed: seeds the dropout's generator.

    Call:
        `layer(query, value, key=None, attention_mask=None, return_attention_scores=False,
        training=None, use_causal_mask=False)`. Inputs may have several axes between
        samples and features (e.g. `(samples, rows, cols, features)`). Masks the inputs carry (Masking,
        Embedding(mask_zero=True), recurrent layers) join the attention mask as in Keras:
        query steps `(samples, T, 1)`, value/key steps `(samples, 1, S)`, the causal mask
        `(1, T, S)` and `attention_mask (samples, T, S)`, all combined with AND.

    Shapes:
        query `(samples, T, dim)`, value `(samples, S, value_features)`, key `(samples, S,
        key_features)`; output `(samples, T, dim)` (or `(samples, T, *output_shape)`)
        carrying the query's mask; the scores are `(samples, num_heads, T, S)`, carrying
        the attention mask as Keras's Softmax leaves it (`(samples or 1, 1, T, S)`).

    Weights:
        `query/kernel (dim, num_heads, key_dim)`, `query/bias (num_heads, key_dim)`, the
        same for `key` and (`value_dim`) `value`, then `attention_output/kernel (num_heads,
        value_dim, dim)` and `attention_output/bias (dim,)`; with `use_gate`, `gate` comes
        after `key`.

    Keras differences: masks stay on the input tensors. Keras's call takes them off at run
    time; in a Keras functional model the later layers that take a mask mostly still get
    the one its graph recorded (the pooling after a Transformer block over masked LSTM
    outputs gets it, as here), but a second MultiHeadAttention stacked on the first gets no
    mask in Keras (it attends to padded steps) while here they stay masked; and merge
    layers fed the same tensors, e.g. `minimum([mha(x, x), x])`, see x's mask here, none
    in Keras. The symbolic scores shape is the computed one, `(samples, heads, T, S)` for
    3-D inputs (Keras writes `(samples, heads, T, T)`). `training=None` follows the
    module's train()/eval() mode.

    Example:
        >>> layer = MultiHeadAttention(num_heads=2, key_dim=3)
        >>> layer(torch.ones(4, 5, 8), torch.ones(4, 6, 8)).shape
        torch.Size([4, 5, 8])
        >>> [tuple(w.shape) for w in layer.weights][:2]
        [(8, 2, 3), (2, 3)]
    """

    supports_masking = True

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | Sequence[int] | None = None,
        attention_axes: int | Sequence[int] | None = None,
        sliding_window: int | None = None,
        flash_attention: bool | None = None,
        kernel_initializer: initializers.InitializerArg = "glorot_uniform",
        bias_initializer: initializers.InitializerArg = "zeros",
        kernel_regularizer: regularizers.RegularizerArg = None,
        bias_regularizer: regularizers.RegularizerArg = None,
        activity_regularizer: regularizers.RegularizerArg = None,
        kernel_constraint: constraints.ConstraintArg = None,
        bias_constraint: constraints.ConstraintArg = None,
        use_gate: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.num_heads = _positive(num_heads, "num_heads")
        self.key_dim = _positive(key_dim, "key_dim")
        self.value_dim = self.key_dim if value_dim is None else _positive(value_dim, "value_dim")
        self.dropout = rate(dropout, "dropout")
        self.use_bias = bool(use_bias)
        self.output_shape_arg = _output_shape(output_shape)
        self.attention_axes = _attention_axes(attention_axes)
        if sliding_window is not None:
            sliding_window = positive_int(sliding_window, "sliding_window")
        self.sliding_window = sliding_window
        if flash_attention and self.dropout > 0:
            raise ConfigError(
                "Dropout is not supported when flash attention is enabled. Please set "
                "dropout to 0.0 to use flash attention."
            )
        self.flash_attention = flash_attention
        initializers.get(kernel_initializer, "kernel_initializer")
        initializers.get(bias_initializer, "bias_initializer")
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, "kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, "bias_constraint")
        self.use_gate = bool(use_gate)
        self.seed = seed
        # Only a layer that drops has a Dropout inside (it shows in print(layer)).
        self._dropout_layer = (
            Dropout(self.dropout, seed=seed, name=f"{self.name}_dropout") if self.dropout else None
        )
        self._call_options: dict[str, Any] = {}

    # -- building ---------------------------------------------------------------------------
    def build(
        self,
        query_shape: Sequence[int | None],
        value_shape: Sequence[int | None] | None = None,
        key_shape: Sequence[int | None] | None = None,
    ) -> None:
        """Makes the projections for these input shapes (value defaults to the query's)."""
        query_shape, value_shape, key_shape = self._check_shapes(
            query_shape, value_shape, key_shape
        )
        for shape, what in ((query_shape, "query"), (value_shape, "value"), (key_shape, "key")):
            if shape[-1] is None:
                raise ShapeError(
                    f"{self.name} needs a known features axis on the {what}; received "
                    f"{what} shape {shape_str(shape)}."
                )
        heads, bias = self.num_heads, self.use_bias

        def per_head(name: str, features: Any, size: int) -> Projection:
            # kernel (features, heads, size), bias (heads, size): a `split` projection
            return Projection((features, heads, size), (heads, size) if bias else None, self, name)

        self.query = per_head("query", query_shape[-1], self.key_dim)
        self.key = per_head("key", key_shape[-1], self.key_dim)
        if self.use_gate:
            self.gate = per_head("gate", query_shape[-1], self.value_dim)
        self.value = per_head("value", value_shape[-1], self.value_dim)
        self._axes = self._resolved_axes(len(query_shape) + 1)
        self._dot, self._combine, _ = _attention_equations(len(query_shape) + 1, self._axes)
        out = self.output_shape_arg or (int(query_shape[-1]),)
        self.attention_output = Projection(
            (heads, self.value_dim, *out), out if bias else None, self, "attention_output"
        )
        if self.variable_dtype is not None:
            self.to(self.variable_dtype)
        self.built = True
        self._apply_trainable()

    def ensure_built(self, inputs: Any) -> None:
        if not self.built:
            query, value, key = inputs
            self.build(query.shape, value.shape, key.shape)
            self.to(query.device)

    def _check_shapes(self, query: Any, value: Any, key: Any) -> tuple[Shape, Shape, Shape]:
        query = tuple(query)
        value = query if value is None else tuple(value)
        key = value if key is None else tuple(key)
        for shape, what in ((query, "query"), (value, "value"), (key, "key")):
            if len(shape) < 3 or len(shape) != len(query):
                raise ShapeError(
                    f"{self.name} expects query, value and key of one rank, each of shape "
                    f"(samples, timesteps, features) or (samples, ..., features); received a "
                    f"{len(shape)}-D {what} of shape {shape_str(shape)} with a {len(query)}-D query."
                )
        if not all(sizes_agree(query[0], s[0]) for s in (value, key)):
            raise ShapeError(
                f"{self.name}: query, value and key need the same samples axis; received "
                f"{shape_str(query)}, {shape_str(value)} and {shape_str(key)}."
            )
        if not all(sizes_agree(a, b) for a, b in zip(value[1:-1], key[1:-1])):
            raise ShapeError(
                "All dimensions of `value` and `key`, except the last one, must be equal. "
                f"Received: value_shape={shape_str(value)} and key_shape={shape_str(key)}"
            )
        axes = self._resolved_axes(len(query) + 1)
        for axis in range(1, len(query) - 1):
            if axis not in axes and not sizes_agree(query[axis], value[axis]):
                raise ShapeError(
                    f"{self.name}: query and value must agree on axis {axis}, which is not "
                    f"attended over (attention_axes={self.attention_axes}); received "
                    f"{shape_str(query)} and {shape_str(value)}."
                )
        if self.built:
            expected = (self.query.kernel.shape[0], self.value.kernel.shape[0])
            expected += (self.key.kernel.shape[0],)
            if (query[-1], value[-1], key[-1]) != expected:
                raise ShapeError(
                    f"{self.name} was built for query, value and key features {expected}; "
                    f"received shapes {shape_str(query)}, {shape_str(value)}, {shape_str(key)}."
                )
        return query, value, key

    def _resolved_axes(self, rank: int) -> tuple[int, ...]:
        """The attended axes of the projected tensors `(samples, ..., heads, size)` of `rank`
        axes, as Keras resolves `attention_axes` (negative ones count from the heads axis)."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 2))
        axes = tuple(a if a >= 0 else rank - 1 + a for a in self.attention_axes)
        if any(not 1 <= a <= rank - 3 for a in axes) or len(set(axes)) != len(axes):
            raise ShapeError(
                f"{self.name}: attention_axes={self.attention_axes} must name distinct axes "
                f"between the samples and the features of {rank - 1}-D inputs (1 to {rank - 3})."
            )
        return axes

    @property
    def weights(self) -> list[nn.Parameter]:
        """Keras's order: query, key, (gate,) value, attention_output; each kernel, bias."""
        if not self.built:
            return []
        names = ["query", "key", *(["gate"] if self.use_gate else []), "value"]
        found: list[nn.Parameter] = []
        for projection in [getattr(self, n) for n in names] + [self.attention_output]:
            found.append(projection.kernel)
            if projection.bias is not None:
                found.append(projection.bias)
        return found

    # -- calling ----------------------------------------------------------------------------
    def forward(
        self,
        query: Any,
        value: Any,
        key: Any = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        # Keras reads the query's mask from the tensor whatever `query_mask=` says, and the
        # value's and key's from their tensors unless given.
        query_mask = get_mask(query)
        value_mask = get_mask(value) if value_mask is None else value_mask
        if key is not None and key_mask is None:
            key_mask = get_mask(key)
        q, v = as_input(query), as_input(value)
        k = v if key is None else as_input(key)
        self._check_shapes(q.shape, v.shape, k.shape)
        if q.dim() == 3:  # (samples, timesteps, features); higher ranks follow attention_axes
            for each, tensor, what in ((query_mask, q, "query"), (value_mask, v, "value")):
                check_step_mask(each, tensor, self.name, f"the {what}'s mask")
            check_step_mask(key_mask, k, self.name, "the key's mask")
            _check_attention_mask(attention_mask, q, v, self.name)
        self.ensure_built((q, v, k))
        dtype = self.query.kernel.dtype
        q, v, k = q.to(dtype), v.to(dtype), k.to(dtype)
        allowed = self._allowed(q, v, query_mask, value_mask, key_mask, attention_mask)
        allowed = self._with_window(allowed, q.shape[1], v.shape[1], use_causal_mask, q.device)

        scale = 1.0 / math.sqrt(self.key_dim)
        queries = self.query.split(q) * scale  # (samples, *T, heads, key_dim)
        keys = self.key.split(k)  # (samples, *S, heads, key_dim)
        values = self.value.split(v)  # (samples, *S, heads, value_dim)
        scores = torch.einsum(self._dot, keys, queries)  # (samples, heads, *T, *S) for 3-D inputs
        attended = len(self._axes)
        if allowed is not None:
            while allowed.dim() < scores.dim():
                allowed = allowed.unsqueeze(-2 * attended - 1)  # a heads axis, as Keras adds
            scores = torch.where(allowed, scores, torch.full_like(scores, -1e9))
        weights = torch.softmax(scores.flatten(-attended), dim=-1).unflatten(
            -1, scores.shape[-attended:]
        )
        # Keras takes two paths: with explicit scores (dropout, returned scores, inputs not
        # 3-D) its Softmax zeros rows with no allowed step; its fused path averages them.
        if allowed is not None and (self.dropout > 0 or return_attention_scores or q.dim() != 3):
            weights = torch.where(allowed, weights, torch.zeros_like(weights))
        dropped = weights
        if self._dropout_layer is not None:
            dropped = self._dropout_layer(weights, training=training)
        heads = torch.einsum(self._combine, dropped, values)  # (samples, *T, heads, value_dim)
        if self.use_gate:
            heads = heads * torch.sigmoid(self.gate.split(q))
        output = self.attention_output.merge(heads)  # (samples, *T, *output_shape)
        if return_attention_scores:
            if allowed is not None:
                weights._keras_mask = allowed  # Keras's Softmax sublayer leaves it there
            return output, weights
        return output

    def _allowed(
        self,
        query: torch.Tensor,
        value: torch.Tensor,
        query_mask: Any,
        value_mask: Any,
        key_mask: Any,
        attention_mask: Any,
    ) -> torch.Tensor | None:
        """Keras's `_compute_attention_mask` before the causal and window parts."""
        device = query.device
        allowed = None
        if query_mask is not None:
            # (samples, T, 1)
            allowed = torch.as_tensor(query_mask, device=device).bool().unsqueeze(-1)
        for mask in (value_mask, key_mask):
            if mask is not None:
                steps = torch.as_tensor(mask, device=device).bool().unsqueeze(-2)  # (samples, 1, S)
                allowed = steps if allowed is None else allowed & steps
        if attention_mask is not None:
            given = torch.as_tensor(attention_mask, device=device).bool()
            allowed = given if allowed is None else given & allowed
        return allowed

    def _with_window(
        self,
        allowed: torch.Tensor | None,
        t: int,
        s: int,
        use_causal_mask: bool,
        device: torch.device,
    ) -> torch.Tensor | None:
        """`allowed` and, if asked, the causal band `j <= i` and the sliding window, `(1, T, S)`."""
        rows = torch.arange(t, device=device).unsqueeze(-1)  # (T, 1)
        cols = torch.arange(s, device=device)  # (S,)
        bands = []
        if use_causal_mask:
            bands.append(rows >= cols)
        if self.sliding_window is not None:
            bands.append((rows - cols).abs() < self.sliding_window)
        for band in bands:
            allowed = band.unsqueeze(0) if allowed is None else allowed & band.unsqueeze(0)
        return allowed

    # -- shapes -----------------------------------------------------------------------------
    def _symbolic_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # The base class builds and asks for shapes from the query alone; value, key and
        # whether the scores are returned come from the call.
        query, value, key = _call_inputs(args, kwargs, self.name)
        if not self.built:
            self.build(query.shape, value.shape, None if key is None else key.shape)
        self._call_options = {
            "value_shape": value.shape,
            "key_shape": None if key is None else key.shape,
            "return_attention_scores": kwargs.get("return_attention_scores", False),
        }
        try:
            return super()._symbolic_call(args, kwargs)
        finally:
            self._call_options = {}

    def compute_output_shape(
        self,
        query_shape: Any,
        value_shape: Any = None,
        key_shape: Any = None,
    ) -> Any:
        """The query's shape with its last axis replaced by `output_shape` (the query's
        features by default); with the scores (`(samples, heads, T, S)` for 3-D inputs) when
        they are returned."""
        value_shape = value_shape or self._call_options.get("value_shape")
        key_shape = key_shape or self._call_options.get("key_shape")
        query_shape, value_shape, key_shape = self._check_shapes(
            query_shape, value_shape, key_shape
        )
        out = self.output_shape_arg or (query_shape[-1],)
        output = (*query_shape[:-1], *out)
        if self._call_options.get("return_attention_scores"):
            rank = len(query_shape) + 1
            axes = self._resolved_axes(rank)
            batch = [i for i in range(rank - 1) if i not in axes]  # samples, others, heads
            projected_query = (*query_shape[:-1], self.num_heads)
            scores = [projected_query[i] for i in batch] + [query_shape[i] for i in axes]
            return (output, (*scores, *(key_shape[i] for i in axes)))
        return output

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "output_shape": self.output_shape_arg,
            "attention_axes": self.attention_axes,
            "sliding_window": self.sliding_window,
            "flash_attention": self.flash_attention,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "kernel_regularizer": self.kernel_regularizer,
            "bias_regularizer": self.bias_regularizer,
            "kernel_constraint": self.kernel_constraint,
            "bias_constraint": self.bias_constraint,
            "seed": self.seed,
        }


def _call_inputs(args: tuple[Any, ...], kwargs: dict[str, Any], layer: str) -> tuple[Any, Any, Any]:
    names = ("query", "value", "key")
    given = dict(zip(names, args))
    for name in names:
        if name in kwargs:
            given[name] = kwargs[name]
    if "query" not in given or "value" not in given:
        raise ShapeError(
            f"{layer} is called as layer(query, value) or layer(query, value, key); received "
            f"{len(args)} positional input(s) and keywords {sorted(kwargs)}."
        )
    return given["query"], given["value"], given.get("key")


def _draw(initializer: Any, shape: Sequence[int], owner: Any) -> torch.Tensor:
    argument = (
        "kernel_initializer" if initializer is owner.kernel_initializer else "bias_initializer"
    )
    init = initializers.get(initializer, argument)
    return initializers.initial_value(init, tuple(int(d) for d in shape), argument)


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(
            f"Received an invalid value for argument `{name}`, expected a positive integer. "
            f"Received: {name}={value!r}"
        )
    return value


def _output_shape(value: Any) -> tuple[int, ...] | None:
    if not value:
        return None
    dims = (value,) if isinstance(value, int) else value
    try:
        dims = tuple(dims)
    except TypeError:
        dims = None
    if dims is None or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in dims):
        raise ConfigError(
            f"Invalid `output_shape`: {value!r}. When specified, the `output_shape` should be "
            "a positive int or a tuple of them."
        )
    return dims


def _attention_axes(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    axes = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(axes, (list, tuple)) or any(
        isinstance(a, bool) or not isinstance(a, int) for a in axes
    ):
        raise ConfigError(
            f"`attention_axes` must be an int, list, or tuple. Received: attention_axes={value!r}"
        )
    return tuple(axes)


def _attention_equations(rank: int, axes: tuple[int, ...]) -> tuple[str, str, int]:
    """Keras's einsum equations over projected tensors `(samples, ..., heads, size)` of `rank`
    axes attending over `axes`: `scores = einsum(dot, key, query)` and
    `heads = einsum(combine, scores, value)`; also the scores' rank.

    The scores keep the other axes (samples, unattended axes, heads) in order, then the
    query's attended axes, then the key's: `(samples, heads, T, S)` for 3-D inputs.
    """
    letters = string.ascii_lowercase
    query = letters[:rank]
    fresh = iter(letters[rank:])
    key = "".join(next(fresh) if i in axes else query[i] for i in range(rank))
    kept = [i for i in range(rank - 1) if i not in axes]
    scores = "".join([query[i] for i in kept] + [query[i] for i in axes] + [key[i] for i in axes])
    return f"{key},{query}->{scores}", f"{scores},{key}->{query}", len(scores)


def _check_attention_mask(mask: Any, query: torch.Tensor, value: torch.Tensor, layer: str) -> None:
    """`attention_mask` must broadcast to `(samples, T, S)`, Keras's shape for it."""
    if mask is None:
        return
    expected = (query.shape[0], query.shape[1], value.shape[1])
    got = mask_shape(mask)
    if not (len(got) == 3 and all(g in (1, e) for g, e in zip(got, expected))):
        raise ShapeError(
            f"{layer}: attention_mask must have shape (samples, T, S) = {shape_str(expected)} "
            f"(T query steps, S value steps), or size 1 on an axis to broadcast; received "
            f"{shape_str(got)}."
        )
