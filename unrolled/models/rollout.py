"""`forecast`: warm a model on the known history, then feed each prediction back in.

Two kinds of model, told apart by their shapes:

- step models (the seeds' stateful recipe): every recurrent layer carries state from
  one call to the next, or the model returns one output per input step. The history
  runs in one fused call; then each prediction is fed back as the next step, with the
  states carried by a `Stepper` (no per-step `predict`, no model rebuilt at batch 1).
- window models (trained on `windows(series, look_back, horizon)`): a stateless model
  from `(samples, look_back, features)` to `horizon` values. The window slides over its
  own predictions, `horizon` steps per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from unrolled.compiled.rollout_plan import plan_rollout
from unrolled.errors import ConfigError, InputTypeError, ShapeError, positive_int, shape_str
from unrolled.models.stepping import Stepper
from unrolled.training.evaluation import switched_mode


class ForecastPath(NamedTuple):
    """How `forecast` generated its steps (`model.last_forecast_path`), and why."""

    name: str  # "compiled-rollout" (one numba call) or "stepper" (torch's cell operators)
    reason: str


def forecast(
    model: Any,
    history: Any,
    steps: int,
    *,
    future: Any = None,
    targets: Sequence[int] | None = None,
    look_back: int | None = None,
) -> np.ndarray:
    """Predicts the `steps` values after `history`, feeding predictions back as inputs.

    Args:
        model: a trained `Sequential` or `Model`: a step model (stateful, or one output per
            input step) or a window model (stateless, `(samples, look_back, features)` to
            `(samples, horizon * len(targets))`).
        history: the known series, `(timesteps,)` for one feature, `(timesteps, features)`,
            or `(series, timesteps, features)` for several series at once. Scale it the
            way the training data was scaled.
        steps: how many future steps to predict.
        future: known future values of the columns the model does not predict (covariates),
            `(steps, features - len(targets))`, or with a leading series axis.
        targets: the input columns the model predicts, in its output order. Default: every
            column, when the model predicts as many values per step as it takes.
        look_back: the window length of a window model whose input shape leaves timesteps
            open (`None`); taken from the model otherwise.

    Returns:
        `(steps,)` for a 1-D history, `(steps, len(targets))` for 2-D, and
        `(series, steps, len(targets))` for 3-D.

    Raises:
        ShapeError: the history is shorter than the window, or arrays have the wrong shape.
        ConfigError: the model cannot be rolled out (why is in the message).

    Example:
        >>> model = Sequential([Input((12, 1)), LSTM(8), Dense(1)])
        >>> forecast(model, np.arange(24.0), steps=3).shape
        (3,)
    """
    steps = positive_int(steps, "steps")
    if targets is not None and not (
        isinstance(targets, (list, tuple, range))
        and all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in targets)
    ):
        raise ConfigError(
            f"`targets` must be a list of column indices, e.g. [0]. Received: targets={targets!r}"
        )
    reference = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    if reference is None:
        raise ConfigError(
            f"`model` must be a built, trained model; received {type(model).__name__} without "
            "weights. Give its first layer an input shape (or fit it) before forecasting."
        )
    series, rank = _as_series(history, reference)  # (S, T, F)
    features = series.shape[-1]
    expected = _input_features(model)
    if expected is not None and expected != features:
        raise ShapeError(
            f"history has {features} feature(s) per timestep, but {getattr(model, 'name', 'the model')} "
            f"takes {expected}: history is (timesteps, features) or (series, timesteps, features), "
            f"scaled and ordered like the training data's x. Received shape {shape_str(_history_shape(history))}."
        )
    with switched_mode(model, False), torch.no_grad():
        if _is_step_model(model):
            rollout = _StepRollout(model, features, targets)
        else:
            rollout = _WindowRollout(model, features, targets, look_back)
        covariates = _as_future(future, series, steps, rollout.covariate_columns)
        predicted = rollout.run(series, steps, covariates)  # (S, steps, K)
    result = predicted.cpu().numpy()
    if rank == 1:
        return result[0, :, 0] if result.shape[-1] == 1 else result[0]
    return result[0] if rank == 2 else result


class _Rollout:
    """What both kinds share: which columns are predicted and how a fed-back row is made."""

    def __init__(self, outputs_per_step: int, features: int, targets: Sequence[int] | None):
        if targets is None:
            if outputs_per_step != features:
                raise ConfigError(
                    f"The model predicts {outputs_per_step} value(s) per step but takes "
                    f"{features} feature(s); pass `targets=` (the input columns it predicts) and "
                    "`future=` (the known values of the other columns)."
                )
            targets = list(range(features))
        self.targets = [int(t) for t in targets]  # integers: `forecast` checked their type
        if any(not 0 <= t < features for t in self.targets) or len(set(self.targets)) != len(
            self.targets
        ):
            raise ConfigError(
                f"`targets` must be distinct column indices below {features}; received {targets}."
            )
        self.covariate_columns = [c for c in range(features) if c not in self.targets]
        self.in_order = self.targets == list(range(features))
        self.features = features

    def next_rows(self, predicted: torch.Tensor, covariates: torch.Tensor | None) -> torch.Tensor:
        """Input rows `(S, H, F)` from predicted targets `(S, H, K)` and known covariates."""
        if not self.covariate_columns:
            if self.in_order:
                return predicted
            return predicted[..., _inverse_order(self.targets)]
        rows = predicted.new_empty(*predicted.shape[:-1], self.features)
        rows[..., self.targets] = predicted
        rows[..., self.covariate_columns] = covariates
        return rows


class _StepRollout(_Rollout):
    def __init__(self, model: Any, features: int, targets: Sequence[int] | None) -> None:
        self.stepper = Stepper.of(model)
        self.model = model
        input_shape = model.input_shape
        timesteps = input_shape[1] if isinstance(input_shape, tuple) else None
        last = self.stepper.recurrent[-1]
        if timesteps not in (None, 1) and not last.return_sequences:
            raise ConfigError(
                f"{model.name} is stateful with windows of {timesteps} timesteps; forecast steps "
                "stateful models one timestep at a time. Train it on windows of 1 timestep "
                "(look_back=1), or make it stateless to forecast by sliding windows."
            )
        outputs = model.output_shape[-1]
        super().__init__(outputs, features, targets)

    def run(
        self, series: torch.Tensor, steps: int, covariates: torch.Tensor | None
    ) -> torch.Tensor:
        # The whole rollout in one compiled call where the chain allows (compiled/).
        runner, reason = plan_rollout(self.stepper.layers)
        self.model.__dict__["last_forecast_path"] = ForecastPath(
            getattr(runner, "path_name", "stepper"), reason
        )
        if runner is not None:
            outputs = len(self.targets)
            return runner(series, steps, outputs, self.targets, self.covariate_columns, covariates)
        step = self.stepper.frozen()  # no gradients in a rollout: weights read once
        output, states = step(series, None)  # warm-up over the whole history
        predictions = []
        for i in range(steps):
            last = output[:, -1] if output.dim() == 3 else output  # (S, K)
            predictions.append(last)
            if i + 1 < steps:
                row = self.next_rows(
                    last[:, None], None if covariates is None else covariates[:, i : i + 1]
                )
                output, states = step(row, states)  # (S, 1, F) in, one step
        return torch.stack(predictions, dim=1)  # (S, steps, K)


class _WindowRollout(_Rollout):
    def __init__(
        self, model: Any, features: int, targets: Sequence[int] | None, look_back: int | None
    ) -> None:
        self.model = model
        input_shape = model.input_shape
        if isinstance(input_shape, list) and hasattr(model, "teacher_inputs"):
            input_shape = input_shape[0]  # an encoder-decoder's encoder input
        if not isinstance(input_shape, tuple) or len(input_shape) != 3:
            raise ConfigError(
                f"{model.name} must take one input of shape (samples, timesteps, features) to "
                f"forecast; its input shape is {input_shape}."
            )
        fixed = input_shape[1]
        if look_back is not None and fixed is not None and int(look_back) != fixed:
            raise ConfigError(
                f"look_back={look_back}, but {model.name} takes windows of {fixed} timesteps."
            )
        if fixed is None and look_back is None:
            raise ConfigError(
                f"{model.name} takes windows of any length; pass `look_back=` (the window length "
                "it was trained on)."
            )
        self.look_back = int(fixed or positive_int(look_back, "look_back"))
        per_call = int(np.prod(model.output_shape[1:]))  # (samples, H * K) or (samples, H, K)
        width = len(targets) if targets is not None else features
        if per_call % width:
            raise ConfigError(
                f"{model.name} predicts {per_call} values per window, not a whole number of "
                f"steps of {width} target column(s); pass the `targets=` it was trained on."
            )
        self.horizon = per_call // width
        super().__init__(width, features, targets)

    def run(
        self, series: torch.Tensor, steps: int, covariates: torch.Tensor | None
    ) -> torch.Tensor:
        if series.shape[1] < self.look_back:
            raise ShapeError(
                f"history has {series.shape[1]} timesteps; {self.model.name} needs a window of "
                f"look_back={self.look_back}. Give at least {self.look_back} known steps."
            )
        window = series[:, -self.look_back :]  # (S, L, F)
        predictions: list[torch.Tensor] = []
        done = 0
        while done < steps:
            flat = self.model(window)  # (S, H * K)
            predicted = flat.reshape(flat.shape[0], self.horizon, len(self.targets))  # (S, H, K)
            predictions.append(predicted)
            known = None if covariates is None else covariates[:, done : done + self.horizon]
            take = predicted if known is None else predicted[:, : known.shape[1]]
            window = torch.cat([window, self.next_rows(take, known)], dim=1)[:, -self.look_back :]
            done += self.horizon
        return torch.cat(predictions, dim=1)[:, :steps]  # (S, steps, K)


def _is_step_model(model: Any) -> bool:
    if hasattr(model, "teacher_inputs"):  # an encoder-decoder: a window in, `horizon` steps out
        return False
    recurrent_stateful = any(
        getattr(m, "stateful", False) for m in model.modules() if m is not model
    )
    output_shape = model.output_shape
    sequence_out = isinstance(output_shape, tuple) and len(output_shape) == 3
    return recurrent_stateful or sequence_out


def _input_features(model: Any) -> int | None:
    shape = getattr(model, "input_shape", None)
    if isinstance(shape, list) and shape:
        shape = shape[0]  # an encoder-decoder's encoder input
    if isinstance(shape, tuple) and len(shape) == 3 and shape[-1] is not None:
        return int(shape[-1])
    return None


def _history_shape(history: Any) -> tuple[int, ...]:
    return tuple(history.shape) if hasattr(history, "shape") else np.shape(history)


def _as_series(history: Any, reference: torch.Tensor) -> tuple[torch.Tensor, int]:
    array = history if isinstance(history, torch.Tensor) else _numbers(history, "history")
    real = not array.is_complex() if isinstance(array, torch.Tensor) else array.dtype.kind in "biuf"
    if not real:
        raise InputTypeError(
            f"history must be real numbers; received an array of dtype {array.dtype}."
        )
    tensor = torch.as_tensor(array).to(device=reference.device, dtype=reference.dtype)
    rank = tensor.dim()
    if rank == 1:
        tensor = tensor[None, :, None]
    elif rank == 2:
        tensor = tensor[None]
    elif rank != 3:
        raise ShapeError(
            "history must be (timesteps,), (timesteps, features) or (series, timesteps, features); "
            f"received shape {shape_str(tensor.shape)}."
        )
    if tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise ShapeError(
            f"history is empty (shape {shape_str(tensor.shape)}); give at least one series and "
            "one known timestep."
        )
    if not bool(torch.isfinite(tensor).all()):
        timestep = int(torch.nonzero(~torch.isfinite(tensor))[0][1])
        raise ShapeError(f"history holds NaN or inf (first at timestep {timestep}).")
    return tensor, rank


def _as_future(
    future: Any, series: torch.Tensor, steps: int, columns: list[int]
) -> torch.Tensor | None:
    if not columns:
        if future is not None:
            raise ConfigError("`future` was given, but the model predicts every input column.")
        return None
    if future is None:
        raise ConfigError(
            f"The model predicts only some columns; pass `future=` with the known values of "
            f"columns {columns} for the {steps} forecast steps."
        )
    array = _numbers(future, "future")
    if array.dtype.kind not in "biuf":
        raise InputTypeError(
            f"future must hold the covariates' known values as numbers; received dtype {array.dtype}."
        )
    if not np.isfinite(array).all():
        raise ConfigError("future holds NaN or inf; give the covariates' known (finite) values.")
    known = torch.as_tensor(array, dtype=series.dtype, device=series.device)
    if known.dim() == 1:
        known = known[:, None]
    if known.dim() == 2:
        known = known[None].expand(series.shape[0], -1, -1)
    expected = (series.shape[0], steps, len(columns))
    if (
        known.dim() != 3
        or known.shape[0] != expected[0]
        or known.shape[2] != expected[2]
        or known.shape[1] < steps
    ):
        raise ShapeError(
            f"future must be (steps, covariates) = ({steps}, {len(columns)}), or with a leading "
            f"series axis; received {shape_str(tuple(np.shape(future)))}."
        )
    return known


def _numbers(value: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value)
    except (TypeError, ValueError) as error:
        raise InputTypeError(
            f"{name} must be an array of numbers; received {type(value).__name__} ({error})."
        ) from None


def _inverse_order(targets: list[int]) -> list[int]:
    # Predictions come in `targets` order; rows need column order.
    order = [0] * len(targets)
    for position, column in enumerate(targets):
        order[column] = position
    return order
