"""`compile(loss=..., metrics=..., loss_weights=...)` resolved against the model's outputs.

A model has one output (a tensor) or several (a list/tuple, or a dict by name). The
loss is one for all outputs, a list with one per output, or a dict by output name;
`loss_weights` likewise. Metrics for one output are a list; for several, a list with
one entry per output or a dict by output name. Everything is resolved on the first
batch, when the shapes are known (`"accuracy"` and `"crossentropy"` need them).

Log names follow Keras: `loss`, the metric names (prefixed `<output>_` with several
outputs), and with several outputs each output's unweighted loss as `<output>_loss`.
Output names come from `module.output_names`, the dict keys, or `output_1`, `output_2`...
"""

from __future__ import annotations

from typing import Any

import torch

from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.training import losses, metrics
from unrolled.training.data import flatten


class BatchMean:
    """The batch-size-weighted mean of per-batch scalars (Keras's loss tracker).

    Values stay on the device; `result()` reduces them once, `running()` reads only the
    batches added since its last call.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.values: list[torch.Tensor] = []
        self.sizes: list[int] = []
        self._read = 0
        self._total = 0.0
        self._count = 0

    def add(self, value: torch.Tensor, size: int) -> None:
        self.values.append(value.detach())
        self.sizes.append(size)

    def result(self) -> float:
        if not self.values:
            return 0.0
        values = torch.stack(self.values).float()
        sizes = torch.tensor(self.sizes, dtype=values.dtype, device=values.device)
        return float((values * sizes).sum() / sizes.sum())

    def running(self) -> float:
        for value, size in zip(self.values[self._read :], self.sizes[self._read :]):
            self._total += float(value) * size
            self._count += size
        self._read = len(self.values)
        return self._total / self._count if self._count else 0.0

    def first_nonfinite(self) -> int | None:
        """Index of the first batch whose value is NaN or infinite, else None."""
        if not self.values:
            return None
        finite = torch.isfinite(torch.stack(self.values))
        if bool(finite.all()):
            return None
        return int(torch.nonzero(~finite)[0, 0])


class Outputs:
    """The model's outputs as a flat list, with their names."""

    def __init__(self, y_pred: Any, output_names: list[str] | None) -> None:
        if isinstance(y_pred, torch.Tensor):
            self.keys: list[Any] | None = None
            self.names = (
                [output_names[0]] if output_names and len(output_names) == 1 else ["output"]
            )
        elif isinstance(y_pred, dict):
            keys = (
                list(output_names)
                if output_names and set(output_names) == set(y_pred)
                else sorted(y_pred)
            )
            self.keys = keys
            self.names = [str(k) for k in keys]
        elif isinstance(y_pred, (list, tuple)):
            self.keys = list(range(len(y_pred)))
            if output_names and len(output_names) == len(y_pred):
                self.names = list(output_names)
            else:
                self.names = [f"output_{i + 1}" for i in range(len(y_pred))]
        else:
            raise ConfigError(
                "The model must return a tensor, or a list/tuple/dict of tensors. "
                f"Received: {type(y_pred).__name__}"
            )

    @property
    def count(self) -> int:
        return 1 if self.keys is None else len(self.keys)

    def predictions(self, y_pred: Any) -> list[torch.Tensor]:
        return [y_pred] if self.keys is None else [y_pred[k] for k in self.keys]

    def targets(self, y_true: Any) -> list[Any]:
        if self.keys is None:
            if isinstance(y_true, (list, tuple)) and len(y_true) == 1:
                return [y_true[0]]
            return [y_true]
        if isinstance(y_true, dict):
            missing = [n for n in self.names if n not in y_true]
            if missing:
                raise ConfigError(
                    f"`y` has no targets for output(s) {missing}. Received keys: {list(y_true)}"
                )
            return [y_true[n] for n in self.names]
        if isinstance(y_true, (list, tuple)) and len(y_true) == self.count:
            return list(y_true)
        raise ConfigError(
            f"The model has {self.count} outputs {self.names}; `y` must be a list of {self.count} "
            f"arrays or a dict by output name. Received: {_describe(y_true)}"
        )

    def per_output(self, value: Any, what: str) -> list[Any]:
        """`value` given once for all outputs, as a list, or as a dict by output name."""
        if isinstance(value, dict):
            unknown = set(value) - set(self.names)
            if unknown:
                raise ConfigError(
                    f"`{what}` has keys {sorted(unknown)} that are not outputs {self.names}."
                )
            return [value.get(n) for n in self.names]
        if isinstance(value, (list, tuple)) and self.count > 1:
            if len(value) != self.count:
                raise ConfigError(
                    f"`{what}` must have one entry per output ({self.count}: {self.names}). "
                    f"Received {len(value)}: {value!r}"
                )
            return list(value)
        return [value] * self.count


class CompiledLoss:
    """The total training loss: each output's loss times its weight, summed."""

    def __init__(
        self, loss: Any, loss_weights: Any = None, output_names: list[str] | None = None
    ) -> None:
        self.loss = loss
        self.loss_weights = loss_weights
        self.output_names = output_names
        self.outputs: Outputs | None = None
        self.losses: list[losses.Loss | None] = []
        self.weights: list[float | None] = []
        self.trackers: list[BatchMean] = []
        self._single: losses.Loss | None = None

    def build(self, y_true: Any, y_pred: Any) -> None:
        if self.loss is None:
            raise ConfigError(
                "A loss is needed to train or evaluate: compile with loss='mse' or another Keras loss."
            )
        outputs = Outputs(y_pred, self.output_names)
        preds, trues = outputs.predictions(y_pred), outputs.targets(y_true)
        specs = outputs.per_output(self.loss, "loss")
        self.losses = [
            None if s is None else _resolve_loss(s, t, p) for s, t, p in zip(specs, trues, preds)
        ]
        if all(loss is None for loss in self.losses):
            raise ConfigError("Every output's loss is None: nothing to train.")
        weights = (
            [None] * outputs.count
            if self.loss_weights is None
            else outputs.per_output(self.loss_weights, "loss_weights")
        )
        self.weights = [None if w is None else float(w) for w in weights]
        self.trackers = [BatchMean(f"{n}_loss") for n in outputs.names] if outputs.count > 1 else []
        self.outputs = outputs
        if outputs.count == 1 and self.weights[0] is None:
            self._single = self.losses[0]

    def __call__(
        self, y_true: Any, y_pred: Any, sample_weight: torch.Tensor | None, size: int
    ) -> torch.Tensor:
        if self.outputs is None:
            self.build(y_true, y_pred)
        if self._single is not None:  # the common case, without per-output bookkeeping
            check_pair(self._single, y_true, y_pred, sample_weight, "y")
            return self._single(y_true, y_pred, sample_weight)
        assert self.outputs is not None
        total: torch.Tensor | None = None
        preds, trues = self.outputs.predictions(y_pred), self.outputs.targets(y_true)
        labels = data_leaf_names(y_true, self.outputs)
        for i, (loss, weight, t, p) in enumerate(zip(self.losses, self.weights, trues, preds)):
            if loss is None:
                continue
            check_pair(loss, t, p, sample_weight, labels[i])
            value = loss(t, p, sample_weight)
            if self.trackers:
                self.trackers[i].add(value, size)
            if weight is not None:
                value = value * weight
            total = value if total is None else total + value
        assert total is not None
        return total


class CompiledMetrics:
    """The compiled metrics of every output, updated without gradients."""

    def __init__(
        self, metrics_spec: Any, weighted_spec: Any = None, output_names: list[str] | None = None
    ) -> None:
        self.spec = metrics_spec
        self.weighted_spec = weighted_spec
        self.output_names = output_names
        self.outputs: Outputs | None = None
        self.plain: list[list[metrics.Metric]] = []
        self.weighted: list[list[metrics.Metric]] = []
        self.names: list[str] = []

    def build(self, y_true: Any, y_pred: Any) -> None:
        outputs = Outputs(y_pred, self.output_names)
        preds, trues = outputs.predictions(y_pred), outputs.targets(y_true)
        self.plain = self._resolve(self.spec, outputs, trues, preds, "metrics")
        self.weighted = self._resolve(self.weighted_spec, outputs, trues, preds, "weighted_metrics")
        seen: set[str] = set()
        names = []
        for group, prefix in ((self.plain, ""), (self.weighted, "weighted_")):
            for i, output_metrics in enumerate(group):
                for m in output_metrics:
                    base = m.name if outputs.count == 1 else f"{outputs.names[i]}_{m.name}"
                    name = (
                        base
                        if base not in seen
                        else (
                            f"{prefix}{m.name}"
                            if outputs.count == 1
                            else f"{outputs.names[i]}_{prefix}{m.name}"
                        )
                    )
                    name = _unique(name, seen)
                    seen.add(name)
                    names.append(name)
        self.names = names
        self.outputs = outputs

    def _resolve(
        self, spec: Any, outputs: Outputs, trues: list[Any], preds: list[torch.Tensor], what: str
    ) -> list[list[metrics.Metric]]:
        if not spec:
            return [[] for _ in range(outputs.count)]
        if outputs.count == 1:
            per_output = [spec if isinstance(spec, (list, tuple)) else [spec]]
            if isinstance(spec, dict):
                per_output = [list(_as_list(v)) for v in spec.values()]
                if len(per_output) != 1:
                    raise ConfigError(
                        f"`{what}` dict has {len(spec)} keys for a model with one output."
                    )
        else:
            if isinstance(spec, (list, tuple)) and len(spec) != outputs.count:
                raise ConfigError(
                    f"The model has {outputs.count} outputs {outputs.names}: `{what}` must be a list "
                    f"with one entry per output, or a dict by output name. Received: {spec!r}"
                )
            per_output = [_as_list(s) for s in outputs.per_output(spec, what)]
        return [
            [metrics.get(s, t, p) for s in specs] for specs, t, p in zip(per_output, trues, preds)
        ]

    def update(self, y_true: Any, y_pred: Any, sample_weight: torch.Tensor | None) -> None:
        if self.outputs is None:
            self.build(y_true, y_pred)
        assert self.outputs is not None
        preds, trues = self.outputs.predictions(y_pred), self.outputs.targets(y_true)
        with torch.no_grad():
            for output_metrics, t, p in zip(self.plain, trues, preds):
                for m in output_metrics:
                    m.update_state(t, p)
            for output_metrics, t, p in zip(self.weighted, trues, preds):
                for m in output_metrics:
                    m.update_state(t, p, sample_weight)

    def all(self) -> list[metrics.Metric]:
        return [
            m
            for group in (self.plain, self.weighted)
            for output_metrics in group
            for m in output_metrics
        ]

    def reset(self) -> None:
        for m in self.all():
            m.reset_state()

    def results(self) -> dict[str, float]:
        return {name: float(m.result()) for name, m in zip(self.names, self.all())}


def check_pair(loss: losses.Loss, y_true: Any, y_pred: Any, sample_weight: Any, label: str) -> None:
    """Refuses targets (and sample weights) that a built-in loss would silently broadcast
    against the outputs: (4, 2) targets for (4, 1) outputs would train on 8 wrong pairs.

    Keras's alignment of `(N,)` with `(N, 1)` is kept. User loss functions are trusted.
    """
    true_shape = getattr(y_true, "shape", None)
    pred_shape = getattr(y_pred, "shape", None)
    if true_shape is None or pred_shape is None:
        return
    if true_shape != pred_shape and _elementwise(loss):
        t, p = losses.squeeze_or_expand_to_same_rank(y_true, y_pred)
        if t.shape != p.shape:
            per_sample = (pred_shape[1:].numel(), true_shape[1:].numel())
            fix = (
                f"reshape it: {label}.reshape{shape_str((-1, *pred_shape[1:]))}"
                if per_sample[0] == per_sample[1]
                else f"make the model output {shape_str(true_shape[1:])} per sample "
                f"(e.g. a last Dense({true_shape[-1]}))"
                if len(true_shape) > 1
                else f"give `{label}` the outputs' shape {shape_str(pred_shape)}"
            )
            raise ShapeError(
                f"`{label}` has shape {shape_str(true_shape)} but the model outputs "
                f"{shape_str(pred_shape)}: the loss {loss.name!r} would broadcast them and train "
                f"on mismatched pairs. Targets must match the outputs (samples, ...); {fix}."
            )
    if sample_weight is not None and sample_weight.dim() > 1:
        weights = sample_weight
        while weights.dim() > 1 and weights.shape[-1] == 1:
            weights = weights.squeeze(-1)
        values = pred_shape[:-1] if len(pred_shape) > 1 else pred_shape
        if tuple(weights.shape) != tuple(values[: weights.dim()]):
            raise ShapeError(
                f"`sample_weight` has shape {shape_str(sample_weight.shape)}; it must be "
                f"(samples,) or, for per-timestep weights, {shape_str(values)} (the outputs "
                f"{shape_str(pred_shape)} without their last axis). Pass one weight per sample."
            )


def _elementwise(loss: losses.Loss) -> bool:
    # Our losses that compare y_true and y_pred value by value (not sparse class ids).
    return (
        type(loss).__module__ == losses.__name__
        and type(loss) is not losses.LossFunctionWrapper
        and not isinstance(loss, losses.SparseCategoricalCrossentropy)
    )


def data_leaf_names(y_true: Any, outputs: Outputs) -> list[str]:
    """`y[0]`, `y['price']`: each output's target as messages name it."""
    if isinstance(y_true, dict):
        return [f"y[{name!r}]" for name in outputs.names]
    return [f"y[{i}]" for i in range(outputs.count)]


def _resolve_loss(spec: Any, y_true: Any, y_pred: torch.Tensor) -> losses.Loss:
    if isinstance(spec, str) and spec.lower() in ("crossentropy", "ce"):
        # Keras's convenience name: the kind follows the shapes, as for "accuracy".
        is_binary = y_pred.shape[-1] == 1
        y_true = torch.as_tensor(y_true)
        is_sparse = y_true.dim() < y_pred.dim() or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
        name = (
            "binary_crossentropy"
            if is_binary
            else "sparse_categorical_crossentropy"
            if is_sparse
            else "categorical_crossentropy"
        )
        loss = losses.get(name)
        loss.name = spec
        return loss
    return losses.get(spec)


def _as_list(spec: Any) -> list[Any]:
    if spec is None:
        return []
    return list(spec) if isinstance(spec, (list, tuple)) else [spec]


def _unique(name: str, seen: set[str]) -> str:
    if name not in seen:
        return name
    index = 1
    while f"{name}_{index}" in seen:
        index += 1
    return f"{name}_{index}"


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(flatten(value))} arrays"
    return type(value).__name__
