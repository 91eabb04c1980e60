"""What the compiled paths take: each option they implement, named with its accepted values.

The planners (`fit_plan`, `rollout_plan`) read a layer's options from `get_config()` (with
its cell's, or its wrapped layer's) and the optimizer's settings, and accept them only
when every one is named here with the value given: an option added to a layer later is
declined, by name, until its values are added to a table. A declined option reads

    lstm: activation='relu' (only tanh); the fused operator computes tanh

`describe(tables)` prints the tables (`unrolled explain` does, for a model the fit
kernel declines).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from unrolled.compiled import codes
from unrolled.layers.core import Activation, Dense
from unrolled.layers.dropout import Dropout
from unrolled.layers.gru import GRU, GRUCell
from unrolled.layers.lstm import LSTM, LSTMCell
from unrolled.layers.recurrent import RNN
from unrolled.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from unrolled.layers.time_distributed import TimeDistributed
from unrolled.ops.cell_kinds import GRU_RESET_BEFORE, kind_of_layer
from unrolled.training import losses, metrics
from unrolled.training.update_rules import AdagradRule, AdamRule, RMSpropRule, SGDRule


@dataclass(frozen=True)
class Accepts:
    """The values one option may take: `words` as printed, `test` for one value, and why not others."""

    words: str
    test: Callable[[Any], bool]
    why: str = ""


def only(*values: Any, why: str = "") -> Accepts:
    """Accepts exactly `values` (printed `a, b or c`); `why` says what the others would need."""
    words = [str(v) for v in values]
    spoken = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
    return Accepts(spoken, lambda value: value in values, why)


def _any(words: str = "any value") -> Accepts:
    return Accepts(words, lambda value: True)


Table = Mapping[str, Accepts]
ANY = _any()
BOOL = only(True, False)
NOT_TRAINED = _any("any (a rollout does not train)")

FIT_STRUCTURE = "[Masking ->] LSTM|GRU|SimpleRNN -> Dense"
FIT_LOSSES = "MSE, MAE, Huber, binary, categorical or sparse categorical cross-entropy"
FIT_METRICS = "mse, mae, rmse, binary, categorical or sparse categorical accuracy"
# The layer and cell classes the kernels run (exactly these: a subclass may change the math).
RECURRENT_LAYERS = (RNN, LSTM, GRU, SimpleRNN)
KERNEL_CELLS = (LSTMCell, GRUCell, SimpleRNNCell)
# The activations of the rollout kernel's pointwise stages, and their codes.
ROLLOUT_ACTIVATIONS = {
    "linear": codes.ACT_LINEAR,
    "relu": codes.ACT_RELU,
    "tanh": codes.ACT_TANH,
    "sigmoid": codes.ACT_SIGMOID,
}


# The fit kernels' head: Dense's activations, the losses (by Keras's function) and the
# metrics (by class), with their codes.
HEAD_ACTIVATIONS = {
    "linear": codes.ACT_LINEAR,
    "sigmoid": codes.ACT_SIGMOID,
    "softmax": codes.ACT_SOFTMAX,
}
_LOSS: Table = {
    "name": ANY,
    "reduction": only(
        "sum_over_batch_size", "mean", why="other reductions run on the reference path"
    ),
    "axis": only(-1),
}
_PROBABILITIES: Table = {
    **_LOSS,
    "from_logits": BOOL,
    "label_smoothing": only(0.0, why="label smoothing runs on the reference path"),
}
POSITIVE = Accepts("a number above 0", lambda value: isinstance(value, (int, float)) and value > 0)
LOSS_OPTIONS: Mapping[Callable[..., Any], tuple[int, Table]] = {
    losses.mean_squared_error: (codes.LOSS_MSE, _LOSS),
    losses.mean_absolute_error: (codes.LOSS_MAE, _LOSS),
    losses.huber: (codes.LOSS_HUBER, {**_LOSS, "delta": POSITIVE}),
    losses.binary_crossentropy: (codes.LOSS_BCE, _PROBABILITIES),
    losses.categorical_crossentropy: (codes.LOSS_CCE, _PROBABILITIES),
    losses.sparse_categorical_crossentropy: (
        codes.LOSS_SPARSE_CCE,
        {**_LOSS, "from_logits": BOOL},
    ),
}
# The loss classes whose `call` is `fn(y_true, y_pred, **options)` and nothing else.
LOSS_CLASSES = (
    losses.LossFunctionWrapper,
    losses.MeanSquaredError,
    losses.MeanAbsoluteError,
    losses.Huber,
    losses.BinaryCrossentropy,
    losses.CategoricalCrossentropy,
    losses.SparseCategoricalCrossentropy,
)
_METRIC: Table = {"name": ANY}
# RootMeanSquaredError's per-sample values are squared errors; it roots the epoch's mean.
METRIC_OPTIONS: Mapping[type, tuple[int, Table]] = {
    metrics.MeanSquaredError: (codes.METRIC_MSE, _METRIC),
    metrics.RootMeanSquaredError: (codes.METRIC_MSE, _METRIC),
    metrics.MeanAbsoluteError: (codes.METRIC_MAE, _METRIC),
    metrics.BinaryAccuracy: (codes.METRIC_BINARY_ACCURACY, {**_METRIC, "threshold": ANY}),
    metrics.CategoricalAccuracy: (codes.METRIC_CATEGORICAL_ACCURACY, _METRIC),
    metrics.SparseCategoricalAccuracy: (codes.METRIC_SPARSE_ACCURACY, _METRIC),
}


def _fit(accepts: Accepts, training: bool, rollout: Accepts = NOT_TRAINED) -> Accepts:
    """`accepts` for the fit kernel; `rollout` for a rollout, where training options do not apply."""
    return accepts if training else rollout


def layer_options(training: bool) -> dict[str, Accepts]:
    """Options every layer has (`Layer.get_config`)."""
    return {
        "name": ANY,
        "trainable": _fit(
            only(True, why="frozen weights run on the reference path"), training, ANY
        ),
        "dtype": only("float32", why="the kernels compute in float32"),
        "activity_regularizer": _fit(
            only(None, why="activity regularizers run on the reference path"), training
        ),
        "batch_shape": ANY,
    }


def _weight_options(weights: tuple[str, ...], training: bool) -> dict[str, Accepts]:
    """Initializers (initial values only), regularizers and constraints of the named weights."""
    table: dict[str, Accepts] = {}
    for weight in weights:
        table[f"{weight}_initializer"] = ANY
        for rule in ("regularizer", "constraint"):
            why = f"{rule}s run on the reference path"
            table[f"{weight}_{rule}"] = _fit(only(None, why=why), training)
    return table


def recurrent_options(cell_class: type, training: bool, masked: bool = False) -> Table:
    """A recurrent layer's and its cell's options, for a cell of `cell_class` (in KERNEL_CELLS).

    `training`: for the fit kernel (else a rollout); `masked`: a Masking layer comes first.
    """
    kind = kind_of_layer(cell_class.__name__)
    if kind is None or not kind.fused:
        raise ValueError(f"{cell_class.__name__} is not a cell the compiled kernels run.")
    computed = " or ".join(kind.fused)
    table = {**layer_options(training), "units": ANY}
    table["activation"] = only(*kind.fused, why=f"the fused operator computes {computed}")
    if kind.gated:
        table["recurrent_activation"] = only("sigmoid", why="the fused operator computes sigmoid")
    if cell_class is LSTMCell:
        table["unit_forget_bias"] = BOOL
    if cell_class is GRUCell:
        table["reset_after"] = only(True, why=GRU_RESET_BEFORE.unfused)
    dropout = _fit(only(0.0, why="dropout draws random masks each call"), training)
    last_output = only(False, why="the kernel trains on the last output")
    return {
        **table,
        "use_bias": BOOL,
        **_weight_options(("kernel", "recurrent", "bias"), training),
        "dropout": dropout,
        "recurrent_dropout": dropout,
        "seed": ANY,
        "return_sequences": _fit(last_output, training, BOOL),
        "return_state": _fit(only(False), training, BOOL),
        "go_backwards": only(False),
        "stateful": BOOL,
        "unroll": BOOL,
        "zero_output_for_mask": (
            only(False, why="the kernel repeats the last output over masked steps")
            if training and masked
            else BOOL
        ),
        "use_cudnn": _fit(only("auto", True, why="False asks for the step loop"), training, ANY),
    }


def dense_options(training: bool) -> Table:
    return {
        **layer_options(training),
        "units": ANY,
        "activation": _fit(only(*HEAD_ACTIVATIONS), training, only(*ROLLOUT_ACTIVATIONS)),
        "use_bias": BOOL,
        **_weight_options(("kernel", "bias"), training),
    }


MASKING_OPTIONS: Table = {**layer_options(True), "trainable": ANY, "mask_value": ANY}
# The rollout kernel's pointwise stages (TimeDistributed: of a Dense layer).
ROLLOUT_STAGES: Mapping[type, Table] = {
    Dense: dense_options(False),
    TimeDistributed: dense_options(False),
    Activation: {**layer_options(False), "activation": only(*ROLLOUT_ACTIVATIONS)},
    Dropout: {**layer_options(False), "rate": NOT_TRAINED, "seed": ANY, "noise_shape": ANY},
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The update's settings travel to the kernel as numbers (`update_plan.UpdatePlan.hyper`).
NUMBER = Accepts("a number", _is_number)
# One of the three is set (`clipnorm`, else `global_clipnorm`, else `clipvalue` applies).
CLIPPING = Accepts("None or a number", lambda value: value is None or _is_number(value))
# What every rule the kernel runs takes: decoupled weight decay and Keras's clipping, as
# `update_rules.KerasRule.step` applies them (clip, decay the weights, then the update).
_OPTIMIZER: Table = {
    "learning_rate": ANY,
    "iterations": ANY,
    "initial_lr": ANY,  # torch's learning-rate schedulers add it; the kernel reads the rate per epoch
    "weight_decay": NUMBER,
    "decay": only(0.0, why="Keras 2's learning-rate decay runs on the reference path"),
    "clipnorm": CLIPPING,
    "clipvalue": CLIPPING,
    "global_clipnorm": CLIPPING,
}
# The rules the fit kernels implement (`fit_kernel._apply_update`); AdamW is AdamRule with
# weight_decay. Others (Nadam, Adadelta, Adamax) run on the reference path.
OPTIMIZER_OPTIONS: Mapping[type, Table] = {
    AdamRule: {
        **_OPTIMIZER,
        "beta_1": ANY,
        "beta_2": ANY,
        "epsilon": ANY,
        "amsgrad": only(False, why="amsgrad runs on the reference path"),
    },
    SGDRule: {**_OPTIMIZER, "momentum": ANY, "nesterov": BOOL},
    RMSpropRule: {
        **_OPTIMIZER,
        "rho": ANY,
        "momentum": ANY,
        "epsilon": ANY,
        "centered": only(False, why="centered RMSprop runs on the reference path"),
    },
    AdagradRule: {**_OPTIMIZER, "initial_accumulator_value": ANY, "epsilon": ANY},
}
KERNEL_OPTIMIZERS = "Adam (AdamW), SGD, RMSprop (not centered) and Adagrad"


def fit_tables(cells: tuple[type, ...] = KERNEL_CELLS, masked: bool = False) -> dict[str, Table]:
    """The fit kernel's tables by title: Masking, the recurrent layers of `cells`, Dense,
    losses, optimizers."""
    tables = {"Masking": MASKING_OPTIONS}
    tables |= {
        cell.__name__.removesuffix("Cell"): recurrent_options(cell, True, masked) for cell in cells
    }
    tables["Dense"] = dense_options(True)
    tables |= {f"loss {fn.__name__}": table for fn, (_, table) in LOSS_OPTIONS.items()}
    return tables | {rule.__name__.removesuffix("Rule"): t for rule, t in OPTIMIZER_OPTIONS.items()}


def config_of(layer: Any) -> dict[str, Any]:
    """`layer.get_config()` with its cell's (`RNN(cell)`) or wrapped layer's options merged in."""
    config = dict(layer.get_config())
    inner = config.pop("cell", None) or config.pop("layer", None)
    return {**inner["config"], **config} if inner else config


def settings_of(optimizer: Any) -> dict[str, Any]:
    """A Keras update rule's settings in Keras's words: its one parameter group, and clipping."""
    group = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    group["learning_rate"] = group.pop("lr")
    clipping = ("clipnorm", "clipvalue", "global_clipnorm")
    return {**group, **{key: getattr(optimizer, key) for key in clipping}}


def declined(owner: str, options: Mapping[str, Any], table: Table) -> str | None:
    """Why `options` are not taken, naming the first one `table` does not accept; None if all are."""
    for key, value in options.items():
        accepts = table.get(key)
        if accepts is None:
            return f"{owner}: {key}={_shown(value)} is not an option the compiled path knows"
        if not accepts.test(value):
            why = f"; {accepts.why}" if accepts.why else ""
            return f"{owner}: {key}={_shown(value)} (only {accepts.words}){why}"
    return None


def _shown(value: Any) -> str:
    if isinstance(value, (str, int, float, bool, type(None), tuple, list, dict)):
        return repr(value)
    return getattr(value, "__name__", type(value).__name__)  # a function, a regularizer


def describe(tables: Mapping[str, Table], width: int = 100) -> list[str]:
    """Each table as `title: option=values, ...; any value: options`, wrapped at `width`."""
    lines = []
    for title, table in tables.items():
        # No-break spaces keep each `option=values` on one line.
        limited = [
            f"{key}={a.words}".replace(" ", "\xa0") for key, a in table.items() if a is not ANY
        ]
        free = [key for key, accepts in table.items() if accepts is ANY]
        text = f"{title}: {', '.join(limited)}; any value: {', '.join(free)}"
        wrapped = textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ")
        lines += [line.replace("\xa0", " ") for line in wrapped]
    return lines
