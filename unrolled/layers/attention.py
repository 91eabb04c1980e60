"""`Attention` (Luong, dot-product) and `AdditiveAttention` (Bahdanau): Keras's attention layers.

Both take `[query, value]` or `[query, value, key]`, score each query step against every
key step, softmax the scores over the key steps and average the values with them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unrolled.errors import ConfigError, ShapeError, rate, shape_str
from unrolled.layers import symbolic
from unrolled.layers.base import Layer, get_mask
from unrolled.layers.coerce import as_input
from unrolled.layers.dropout import Dropout
from unrolled.layers.parameters import add_weight
from unrolled.ops.masks import check_step_mask

Shape = tuple[int | None, ...]

# Keras biases masked scores by this much (its float32 choice) before the softmax.
_MASKED_SCORE_BIAS = 1.0e9


class Attention(Layer):
    """Dot-product attention, a.k.a. Luong-style attention.

    Args:
        use_scale: learn a scalar `scale` that multiplies the scores.
        score_mode: `"dot"` (query-key dot product) or `"concat"` (sum over features of
            `tanh(query + key)`, times a learned scalar `concat_score_weight`).
        dropout: fraction of the attention weights to drop in training, in [0, 1].
        seed: seeds the dropout's own generator.

    Call:
        `layer([query, value], mask=None, training=None, return_attention_scores=False,
        use_causal_mask=False)`; `[query, value, key]` gives a separate key (the value is
        the key otherwise). `mask=[query_mask, value_mask]` (or the masks the inputs carry,
        from Masking, Embedding(mask_zero=True) or a recurrent layer): a value mask keeps
        masked steps out of the softmax, a query mask zeros the output at masked steps.
        `use_causal_mask=True` lets query step `i` see key steps `j <= i` only.

    Shapes:
        query `(samples, Tq, dim)`, value `(samples, Tv, value_dim)`, key `(samples, Tv, dim)`;
        output `(samples, Tq, value_dim)` carrying the query's mask, and with
        `return_attention_scores=True` also the scores `(samples, Tq, Tv)` after the softmax
        and dropout.

    Weights:
        `scale ()` when `use_scale`, then `concat_score_weight ()` for `score_mode="concat"`.

    Keras differences: `training=None` follows the module's `train()`/`eval()` mode, as in
    Dropout; dropout draws differ from Keras's.

    Example:
        >>> query, value = torch.ones(2, 3, 4), torch.ones(2, 5, 4)
        >>> Attention()([query, value]).shape
        torch.Size([2, 3, 4])
    """

    supports_masking = True
    _config_options = ("use_scale", "score_mode", "dropout", "seed")

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ConfigError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode!r}"
            )
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = rate(dropout, "dropout")
        self.seed = seed
        # Only a layer that drops has a Dropout inside (it shows in print(layer)).
        self._dropout_layer = (
            Dropout(self.dropout, seed=seed, name=f"{self.name}_dropout") if self.dropout else None
        )
        self._call_options: dict[str, Any] = {}
        self.scale: nn.Parameter | None
        self.concat_score_weight: nn.Parameter | None

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        self._check_shapes(input_shape)
        self.register_parameter("scale", None)
        self.register_parameter("concat_score_weight", None)
        if self.use_scale:
            add_weight(self, "scale", (), "ones", "use_scale")
        if self.score_mode == "concat":
            add_weight(self, "concat_score_weight", (), "ones", "score_mode")
        self.built = True
        self._apply_trainable()

    @property
    def weights(self) -> list[nn.Parameter]:
        """`[scale][, concat_score_weight]`: Keras's order."""
        found = [getattr(self, "scale", None), getattr(self, "concat_score_weight", None)]
        return [w for w in found if w is not None]

    # -- calling ----------------------------------------------------------------------------
    def forward(
        self,
        inputs: Any,
        mask: Any = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        tensors = self._tensors(inputs)
        self._check_shapes([tuple(t.shape) for t in tensors])
        self.ensure_built(tensors)
        query, value = tensors[0], tensors[1]
        key = tensors[2] if len(tensors) > 2 else value
        masks = _masks(inputs, mask, self.name)
        query_mask, value_mask = masks[0], masks[1]
        for each, tensor, what in zip(masks, (query, value, key), ("query", "value", "key")):
            check_step_mask(each, tensor, self.name, f"the {what}'s mask")
        scores = self._scores(query, key)  # (samples, Tq, Tv)
        allowed = _allowed(scores, value_mask, use_causal_mask)
        if allowed is not None:
            scores = torch.where(allowed, scores, scores - _MASKED_SCORE_BIAS)
        weights = torch.softmax(scores, dim=-1)  # (samples, Tq, Tv)
        if self._dropout_layer is not None:
            # Keras returns the scores after dropout here (MultiHeadAttention: before).
            weights = self._dropout_layer(weights, training=training)
        output = weights @ value  # (samples, Tq, value_dim)
        if query_mask is not None:
            steps = torch.as_tensor(query_mask, device=output.device).bool()  # (samples, Tq)
            output = torch.where(steps.unsqueeze(-1), output, 0.0)
        if return_attention_scores:
            return output, weights
        return output

    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        if self.score_mode == "dot":
            scores = query @ key.transpose(-2, -1)  # (samples, Tq, Tv)
            return scores * self.scale if self.scale is not None else scores
        pairs = query.unsqueeze(-2) + key.unsqueeze(-3)  # (samples, Tq, Tv, dim)
        if self.scale is not None:
            pairs = self.scale * pairs
        return self.concat_score_weight * torch.tanh(pairs).sum(dim=-1)

    def _tensors(self, inputs: Any) -> list[torch.Tensor]:
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ShapeError(
                f"{type(self).__name__} layer must be called on a list of inputs, namely "
                f"[query, value] or [query, value, key]. Received: {_describe(inputs)}."
            )
        tensors = [as_input(x) for x in inputs]
        if self.built and self.weights:
            # The inputs meet the weights' dtype and device, as in Dense.
            reference = self.weights[0]
            tensors = [t.to(device=reference.device, dtype=reference.dtype) for t in tensors]
        return tensors

    def _check_shapes(self, input_shape: Any) -> list[Shape]:
        name = type(self).__name__
        if symbolic.is_shape(input_shape) or not 2 <= len(input_shape) <= 3:
            raise ShapeError(
                f"{name} layer must be called on a list of inputs, namely [query, value] or "
                f"[query, value, key]. Received input shape {input_shape}."
            )
        shapes = [tuple(s) for s in input_shape]
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        if any(len(s) < 3 for s in shapes) or len({len(s) for s in shapes}) > 1:
            raise ShapeError(
                f"{self.name} expects query (samples, Tq, dim), value (samples, Tv, value_dim) "
                f"and key (samples, Tv, dim) of one rank; received shapes "
                f"{', '.join(shape_str(s) for s in shapes)}."
            )
        if not sizes_agree(query[-1], key[-1]):
            raise ShapeError(
                f"{self.name}: query and key need the same features axis; received query "
                f"{shape_str(query)} and key {shape_str(key)}."
            )
        if not sizes_agree(value[-2], key[-2]):
            raise ShapeError(
                f"{self.name}: value and key need the same timesteps axis (Tv); received value "
                f"{shape_str(value)} and key {shape_str(key)}."
            )
        if not all(sizes_agree(query[0], s[0]) for s in shapes):
            raise ShapeError(
                f"{self.name}: query, value and key need the same samples axis; received "
                f"shapes {', '.join(shape_str(s) for s in shapes)}."
            )
        return shapes

    # -- shapes and masks -------------------------------------------------------------------
    def _symbolic_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # The base class asks compute_output_shape for the shapes; whether the scores are an
        # output is a call option, kept here for that one question.
        self._call_options = kwargs
        try:
            return super()._symbolic_call(args, kwargs)
        finally:
            self._call_options = {}

    def compute_output_shape(self, input_shape: Any) -> Any:
        """`(samples, Tq, value_dim)`, and the scores' `(samples, Tq, Tv)` when returned."""
        shapes = self._check_shapes(input_shape)
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        output = (*query[:-1], value[-1])
        if self._call_options.get("return_attention_scores"):
            return (output, (*query[:-1], key[-2]))
        return output

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """The query's mask (Keras's rule); the scores carry none."""
        masks = _masks(inputs, mask, self.name)
        return None if masks[0] is None else torch.as_tensor(masks[0])


class AdditiveAttention(Attention):
    """Additive attention, a.k.a. Bahdanau-style attention.

    Scores are `sum(scale * tanh(query + key), axis=-1)` with a learned `scale` vector (one
    entry per feature; 1 everywhere with `use_scale=False`). Calls, masks and shapes as
    `Attention`.

    Args:
        use_scale: learn the `scale (dim,)` vector, drawn with glorot_uniform as in Keras.
        dropout: fraction of the attention weights to drop in training.

    Weights:
        `scale (dim,)` when `use_scale`.

    Example:
        >>> AdditiveAttention()([torch.ones(2, 3, 4), torch.ones(2, 5, 4)]).shape
        torch.Size([2, 3, 4])
    """

    _config_options = ("use_scale", "dropout", "seed")

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        kwargs.pop("score_mode", None)  # Keras's config omits it; the parent's "dot" is unused
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape: Any) -> None:
        shapes = self._check_shapes(input_shape)
        dim = shapes[0][-1]
        self.register_parameter("scale", None)
        self.register_parameter("concat_score_weight", None)
        if self.use_scale:
            if dim is None:
                raise ShapeError(
                    f"{self.name} needs a known features axis on the query to make its scale "
                    f"weight; received query shape {shape_str(shapes[0])}."
                )
            add_weight(self, "scale", (dim,), "glorot_uniform", "use_scale")
        self.built = True
        self._apply_trainable()

    def _scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        pairs = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))  # (samples, Tq, Tv, dim)
        if self.scale is not None:
            pairs = self.scale * pairs
        return pairs.sum(dim=-1)  # (samples, Tq, Tv)


def _masks(inputs: Any, mask: Any, layer: str) -> list[Any]:
    """`[query_mask, value_mask(, key_mask)]`: `mask=` if given, else what the inputs carry."""
    if mask is None:
        if not isinstance(inputs, (list, tuple)):
            return [None, None]
        return [get_mask(x) for x in inputs]
    if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
        raise ShapeError(
            f"{layer}: `mask` must be a list, namely [query_mask, value_mask]. Received: "
            f"{_describe(mask)}."
        )
    return list(mask)


def _allowed(scores: torch.Tensor, value_mask: Any, use_causal_mask: bool) -> torch.Tensor | None:
    """Where query step i may look at key step j: the value mask and, if asked, `j <= i`."""
    allowed = None
    if value_mask is not None:
        allowed = torch.as_tensor(value_mask, device=scores.device).bool().unsqueeze(-2)
        # (samples, 1, Tv)
    if use_causal_mask:
        tq, tv = scores.shape[-2], scores.shape[-1]
        causal = torch.ones(tq, tv, dtype=torch.bool, device=scores.device).tril()  # (Tq, Tv)
        allowed = causal if allowed is None else allowed & causal
    return allowed


def sizes_agree(a: int | None, b: int | None) -> bool:
    """Two sizes of one axis agree when they are equal or either is unknown (None)."""
    return a is None or b is None or a == b


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"{type(value).__name__}"
