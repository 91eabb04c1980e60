"""Karpathy's pictures in one line each: builders that return ordinary models.

Every builder returns a `Sequential` or `Model` the user can `summary()`, train with
`fit` and change. The options are shared: `units` (an int, or a list for stacked
layers), `cell` ("lstm", "gru", "simplernn"), `bidirectional` (encoders and many-to-one),
`dropout`, `output_activation`.

    one_to_one      (samples, features)            -> (samples, outputs)
    many_to_one     (samples, timesteps, features) -> (samples, outputs)
    many_to_many    (samples, timesteps, features) -> (samples, timesteps or output_steps, outputs)
    one_to_many     (samples, features)            -> (samples, steps, outputs)
    seq2seq         (samples, input_steps, features) -> (samples, output_steps, outputs)
    autoencoder     (samples, timesteps, features) -> the same, through a `latent` vector
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from unrolled.errors import ConfigError, positive_int
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.core import Dense
from unrolled.layers.cropping import Cropping1D
from unrolled.layers.gru import GRU
from unrolled.layers.input_layer import Input
from unrolled.layers.lstm import LSTM
from unrolled.layers.merging import Concatenate
from unrolled.layers.recurrent import RNN
from unrolled.layers.reshaping import RepeatVector, Reshape
from unrolled.layers.simple_rnn import SimpleRNN
from unrolled.layers.time_distributed import TimeDistributed
from unrolled.models.feedback import Feedback
from unrolled.models.functional import Model
from unrolled.models.sequential import Sequential
from unrolled.models.stepping import Stepper
from unrolled.saving import serialization
from unrolled.saving.registry import register_builtin
from unrolled.training.evaluation import switched_mode

CELLS: dict[str, type[RNN]] = {"lstm": LSTM, "gru": GRU, "simplernn": SimpleRNN}


def one_to_one(
    features: int, outputs: int = 1, units: int | Sequence[int] = 32, **options: Any
) -> Sequential:
    """One input vector to one output vector: the recurrent layer runs a single step.

    Example:
        >>> one_to_one(3, outputs=2).output_shape
        (None, 2)
    """
    features = positive_int(features, "features")
    return Sequential(
        [
            Input((features,)),
            Reshape((1, features)),  # (samples, 1, features): one timestep
            *_stack(units, last_sequences=False, **options),
            _head(outputs, options),
        ],
        name="one_to_one",
    )


def many_to_one(
    timesteps: int | None,
    features: int,
    outputs: int = 1,
    units: int | Sequence[int] = 32,
    **options: Any,
) -> Sequential:
    """A sequence to one vector: the last recurrent layer returns only its last step.

    Example:
        >>> many_to_one(10, 3).output_shape
        (None, 1)
    """
    return Sequential(
        [
            Input((_steps(timesteps, "timesteps"), positive_int(features, "features"))),
            *_stack(units, last_sequences=False, **options),
            _head(outputs, options),
        ],
        name="many_to_one",
    )


def many_to_many(
    timesteps: int | None,
    features: int,
    outputs: int = 1,
    units: int | Sequence[int] = 32,
    output_steps: int | None = None,
    **options: Any,
) -> Sequential:
    """A sequence to a sequence of the same length, or of its last `output_steps` steps.

    Example:
        >>> many_to_many(10, 3, outputs=2, output_steps=4).output_shape
        (None, 4, 2)
    """
    layers: list[Any] = [
        Input((_steps(timesteps, "timesteps"), positive_int(features, "features"))),
        *_stack(units, last_sequences=True, **options),
    ]
    if output_steps is not None:
        output_steps = positive_int(output_steps, "output_steps")
        if timesteps is None or output_steps > timesteps:
            raise ConfigError(
                f"output_steps={output_steps} keeps the last steps of the input, so timesteps must "
                f"be known and at least output_steps; received timesteps={timesteps}."
            )
        layers.append(Cropping1D((timesteps - output_steps, 0)))  # (samples, output_steps, units)
    layers.append(TimeDistributed(_head(outputs, options)))
    return Sequential(layers, name="many_to_many")


def one_to_many(
    steps: int,
    features: int,
    outputs: int | None = None,
    units: int | Sequence[int] = 32,
    via: str = "repeat",
    **options: Any,
) -> Sequential:
    """One vector to a sequence of `steps`.

    Args:
        via: "repeat" feeds the same input at every step (`RepeatVector`); "feedback" feeds
            each output back as the next input (outputs must equal features).

    Example:
        >>> one_to_many(5, 1, via="feedback").output_shape
        (None, 5, 1)
    """
    steps = positive_int(steps, "steps")
    features = positive_int(features, "features")
    outputs = features if outputs is None else positive_int(outputs, "outputs")
    if via == "repeat":
        layers = [
            RepeatVector(steps),  # (samples, steps, features)
            *_stack(units, last_sequences=True, **options),
            TimeDistributed(_head(outputs, options)),
        ]
    elif via == "feedback":
        if outputs != features:
            raise ConfigError(
                f"one_to_many(via='feedback') feeds each output back as the next input, so outputs "
                f"must equal features={features}; received outputs={outputs}."
            )
        chain = [*_stack(units, last_sequences=True, **options), _head(outputs, options)]
        layers = [Feedback(chain, steps)]
    else:
        raise ConfigError(f"`via` must be 'repeat' or 'feedback'; received {via!r}.")
    return Sequential([Input((features,)), *layers], name="one_to_many")


class Seq2Seq(Model):
    """An encoder-decoder for input and output sequences of different lengths.

    The encoder's final states start the decoder. Training (`fit(x, y)`) uses teacher
    forcing: the decoder reads the true previous output step. `predict(x)` decodes
    greedily from the model's own previous output (`decode` for a stop token).

    Args:
        input_steps, output_steps: the lengths of the input and output sequences.
        features: features per input step; outputs: values (or classes) per output step.
        units: the recurrent width, or a list for stacked layers (each decoder layer starts
            from the matching encoder layer's states).
        cell: "lstm", "gru" or "simplernn".
        bidirectional: a bidirectional encoder (its two halves' states are concatenated, so
            the decoder is twice as wide).
        output_activation: e.g. "softmax" for classes; then decoding feeds back the one-hot
            of the most likely class.
        start: what the decoder reads at its first step: "zeros", or "last" (the last input
            step's first `outputs` features, for forecasting a continuation).

    Example:
        >>> model = Seq2Seq(input_steps=6, output_steps=3, features=10, outputs=10)
        >>> model.predict(np.zeros((2, 6, 10), "float32"), verbose=0).shape
        (2, 3, 10)
    """

    def __init__(
        self,
        input_steps: int | None,
        output_steps: int,
        features: int,
        outputs: int,
        units: int | Sequence[int] = 64,
        cell: str | type[RNN] = "lstm",
        bidirectional: bool = False,
        output_activation: Any = None,
        start: str = "zeros",
        dropout: float = 0.0,
        name: str = "seq2seq",
    ) -> None:
        if start not in ("zeros", "last"):
            raise ConfigError(f"`start` must be 'zeros' or 'last'; received {start!r}.")
        self.options = {
            "input_steps": input_steps,
            "output_steps": positive_int(output_steps, "output_steps"),
            "features": positive_int(features, "features"),
            "outputs": positive_int(outputs, "outputs"),
            "units": units,
            "cell": cell,
            "bidirectional": bool(bidirectional),
            "output_activation": output_activation,
            "start": start,
            "dropout": dropout,
        }
        layer_class = _cell_class(cell)
        widths = _widths(units)
        encoder_in = Input((_steps(input_steps, "input_steps"), features), name="encoder_input")
        decoder_in = Input((output_steps, outputs), name="decoder_input")
        x, encoder_states = encoder_in, []
        for index, width in enumerate(widths):
            layer = layer_class(
                width, return_sequences=index < len(widths) - 1, return_state=True, dropout=dropout
            )
            if bidirectional:
                result = Bidirectional(layer)(x)
                half = (len(result) - 1) // 2
                forward, backward = result[1 : 1 + half], result[1 + half :]
                states = [Concatenate()([f, b]) for f, b in zip(forward, backward)]
            else:
                result = layer(x)
                states = list(result[1:])
            x = result[0]
            encoder_states.append(states)
        y = decoder_in
        decoder_layers = []
        for width, states in zip(widths, encoder_states):
            layer = layer_class(width * (2 if bidirectional else 1), return_sequences=True)
            decoder_layers.append(layer)
            y = layer(y, initial_state=states)
        head = TimeDistributed(Dense(outputs, activation=output_activation))
        y = head(y)  # (samples, output_steps, outputs)
        super().__init__([encoder_in, decoder_in], y, name=name)
        # Views of the same layers, kept out of the module tree so weights are not listed twice.
        flat_states = [s for states in encoder_states for s in states]
        object.__setattr__(self, "_encoder", Model(encoder_in, flat_states, name=f"{name}_encoder"))
        object.__setattr__(self, "_decoder", Stepper([*decoder_layers, head], name))
        self.classes = _is_softmax(output_activation)

    def forward(self, *inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        given = (
            list(inputs[0])
            if len(inputs) == 1 and isinstance(inputs[0], (list, tuple))
            else list(inputs)
        )
        if len(given) == 2:  # teacher forcing: [encoder input, decoder input]
            return super().forward(given, training=training, mask=mask)
        return self._decode(given[0], self.options["output_steps"])[0]

    def teacher_inputs(self, x: Any, y: Any) -> np.ndarray:
        """The decoder's inputs for training: the start step, then `y` shifted right by one."""
        y = np.asarray(y, dtype=np.float32)
        start = self._start(np.asarray(x, dtype=np.float32), len(y))
        return np.concatenate(
            [start[:, None], y[:, :-1]], axis=1
        )  # (samples, output_steps, outputs)

    def fit(self, x: Any = None, y: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Trains with teacher forcing; `x` is the input sequences, `y` the output sequences.

        The other arguments are `Model.fit`'s, by position (`batch_size`, `epochs`, ...) or name.
        """
        if not isinstance(x, (list, tuple)) and y is not None:
            x = [x, self.teacher_inputs(x, y)]
        return super().fit(x, y, *args, **kwargs)

    def decode(
        self, x: Any, steps: int | None = None, stop: int | float | None = None
    ) -> np.ndarray:
        """Greedy decoding of a batch, to `steps` (default output_steps) or a stop value.

        With `stop` (a class index for a softmax output, else a value of the first output),
        a row ends at the step that produces it; later steps of that row are zeros, and
        decoding ends when every row has stopped.
        """
        steps = positive_int(steps or self.options["output_steps"], "steps")
        with switched_mode(self, False), torch.no_grad():
            outputs, _ = self._decode(x, steps, stop)
        return outputs.cpu().numpy()

    def _decode(
        self, x: Any, steps: int, stop: int | float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        reference = next(self.parameters())
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        x = x.to(device=reference.device, dtype=reference.dtype)
        encoded = self._encoder(x)
        encoded = [encoded] if isinstance(encoded, torch.Tensor) else list(encoded)
        sizes = self._decoder.state_sizes
        states, position = [], 0
        for layer_sizes in sizes:
            states.append(encoded[position : position + len(layer_sizes)])
            position += len(layer_sizes)
        step = torch.as_tensor(
            self._start(x, x.shape[0]), device=reference.device, dtype=reference.dtype
        )
        step = step[:, None]  # (B, 1, outputs)
        finished = torch.zeros(x.shape[0], dtype=torch.bool, device=reference.device)
        outputs = []
        # Without gradients (predict, decode) the weights are read once for the whole loop.
        decoder = self._decoder if torch.is_grad_enabled() else self._decoder.frozen()
        for _ in range(steps):
            output, states = decoder(step, states)  # (B, 1, outputs)
            output = output.masked_fill(finished[:, None, None], 0.0)
            outputs.append(output)
            step = self._fed_back(output)
            if stop is not None:
                finished = finished | self._stopped(output, stop)
                if bool(finished.all()):
                    break
        return torch.cat(outputs, dim=1), finished

    def _fed_back(self, output: torch.Tensor) -> torch.Tensor:
        if not self.classes:
            return output
        return torch.nn.functional.one_hot(output.argmax(-1), output.shape[-1]).to(output.dtype)

    def _stopped(self, output: torch.Tensor, stop: int | float) -> torch.Tensor:
        if self.classes:
            return output[:, 0].argmax(-1) == int(stop)
        return (output[:, 0, 0] - float(stop)).abs() < 1e-6

    def _start(self, x: Any, batch: int) -> Any:
        outputs = self.options["outputs"]
        if self.options["start"] == "zeros":
            return (
                np.zeros((batch, outputs), dtype=np.float32)
                if not isinstance(x, torch.Tensor)
                else x.new_zeros(batch, outputs)
            )
        return x[:, -1, :outputs]

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


class Autoencoder(Sequential):
    """A sequence autoencoder: many-to-one encoder, `RepeatVector`, one-to-many decoder.

    `reconstruction_errors(x)` gives each sample's mean squared reconstruction error,
    the usual anomaly score; `encoder` maps sequences to their `latent` vectors.

    Example:
        >>> model = autoencoder(timesteps=20, features=2, latent=4)
        >>> model.reconstruction_errors(np.zeros((3, 20, 2), "float32")).shape
        (3,)
    """

    def __init__(
        self, timesteps: int, features: int, latent: int, units: int | Sequence[int], **options: Any
    ) -> None:
        timesteps = positive_int(timesteps, "timesteps")
        features = positive_int(features, "features")
        latent = positive_int(latent, "latent")
        hidden = [] if units is None else _widths(units)
        encoder = _stack([*hidden, latent], last_sequences=False, **options)
        decoder = _stack(
            [*reversed(hidden)] or [latent],
            last_sequences=True,
            **{**options, "bidirectional": False},
        )
        super().__init__(
            [
                Input((timesteps, features)),
                *encoder,
                RepeatVector(timesteps),  # (samples, timesteps, latent)
                *decoder,
                TimeDistributed(Dense(features)),
            ],
            name="autoencoder",
        )
        self.options = {
            "timesteps": timesteps,
            "features": features,
            "latent": latent,
            "units": units,
            **options,
        }
        object.__setattr__(
            self, "encoder", Sequential([Input((timesteps, features)), *encoder], name="encoder")
        )

    def reconstruction_errors(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """Each sample's mean squared reconstruction error: `(samples,)`."""
        x = np.asarray(x, dtype=np.float32)
        reconstructed = self.predict(x, batch_size=batch_size, verbose=0)
        return ((reconstructed - x) ** 2).reshape(len(x), -1).mean(axis=1)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Autoencoder:
        options = serialization.deserialize(dict(config), custom_objects, cls.__name__)
        name = options.pop("name", None)
        model = cls(**options)
        model.name = name or model.name
        return model


def seq2seq(
    input_steps: int | None, output_steps: int, features: int, outputs: int, **options: Any
) -> Seq2Seq:
    """An encoder-decoder `Seq2Seq` model (see its documentation for the options)."""
    return Seq2Seq(input_steps, output_steps, features, outputs, **options)


def autoencoder(
    timesteps: int,
    features: int,
    latent: int,
    units: int | Sequence[int] | None = None,
    **options: Any,
) -> Autoencoder:
    """A sequence autoencoder compressing each `(timesteps, features)` sample to `latent` values.

    `units` adds wider recurrent layers around the latent one (encoder `units -> latent`,
    decoder the mirror image).
    """
    return Autoencoder(timesteps, features, latent, units, **options)


# -- shared pieces -------------------------------------------------------------------------
def _stack(
    units: int | Sequence[int],
    last_sequences: bool,
    cell: str | type[RNN] = "lstm",
    bidirectional: bool = False,
    dropout: float = 0.0,
    output_activation: Any = None,
) -> list[Any]:
    layer_class = _cell_class(cell)
    widths = _widths(units)
    layers: list[Any] = []
    for index, width in enumerate(widths):
        sequences = last_sequences or index < len(widths) - 1
        layer = layer_class(width, return_sequences=sequences, dropout=dropout)
        layers.append(Bidirectional(layer) if bidirectional else layer)
    return layers


def _head(outputs: int, options: dict[str, Any]) -> Dense:
    return Dense(positive_int(outputs, "outputs"), activation=options.get("output_activation"))


def _widths(units: int | Sequence[int]) -> list[int]:
    listed = [units] if isinstance(units, int) else list(units)
    if not listed:
        raise ConfigError("`units` must be a positive int or a non-empty list of them.")
    return [positive_int(u, "units") for u in listed]


def _cell_class(cell: str | type[RNN]) -> type[RNN]:
    if isinstance(cell, type) and issubclass(cell, RNN):
        return cell
    key = str(cell).lower().replace("_", "")
    if key not in CELLS:
        raise ConfigError(f"`cell` must be one of {sorted(CELLS)}; received {cell!r}.")
    return CELLS[key]


def _steps(timesteps: int | None, argument: str) -> int | None:
    return None if timesteps is None else positive_int(timesteps, argument)


def _is_softmax(activation: Any) -> bool:
    return activation == "softmax" or getattr(activation, "__name__", "") == "softmax"


# Saved models name these classes; the registry rebuilds them from their get_config().
register_builtin("unrolled.models", Seq2Seq, Autoencoder)
