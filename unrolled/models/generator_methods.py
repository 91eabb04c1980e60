"""Keras 2's `fit_generator`, `evaluate_generator` and `predict_generator` (removed in Keras 2.4).

Each warns with today's spelling and calls `fit` / `evaluate` / `predict`, which take
generators themselves (`training/batch_sources.py`). Keras 2's `max_queue_size`, `workers`
and `use_multiprocessing` (Keras 1's `max_q_size`, `nb_worker`, `pickle_safe`) are accepted
and unused: they never changed the numbers. Keras 1 counted `samples_per_epoch` and
`nb_val_samples` in samples, which a generator of batches cannot be turned into without its
batch size, so those are refused with the conversion to write.
"""

from __future__ import annotations

import warnings
from typing import Any

from unrolled.errors import ConfigError

_UNUSED = (
    "max_queue_size",
    "workers",
    "use_multiprocessing",
    "max_q_size",
    "nb_worker",
    "pickle_safe",
)


class GeneratorMethods:
    """The Keras 2 generator methods of a model (mixed into `ModelBase`)."""

    def fit_generator(
        self,
        generator: Any,
        steps_per_epoch: int | None = None,
        epochs: int = 1,
        verbose: int | str = 1,
        callbacks: Any = None,
        validation_data: Any = None,
        validation_steps: int | None = None,
        validation_freq: int | list[int] = 1,
        class_weight: dict[Any, float] | None = None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        **legacy: Any,
    ) -> Any:
        """Keras 2's `fit_generator`: `fit(generator, steps_per_epoch=..., ...)`, with a
        DeprecationWarning.

        Example:
            >>> import warnings
            >>> model = Sequential([Input((3,)), Dense(1)])
            >>> model.compile("sgd", "mse")
            >>> batches = ((np.ones((4, 3)), np.ones((4, 1))) for _ in range(4))
            >>> with warnings.catch_warnings():
            ...     warnings.simplefilter("ignore", DeprecationWarning)
            ...     model.fit_generator(batches, 2, epochs=2, verbose=0).epoch
            [0, 1]
        """
        # Every named argument is fit's own, under the same name (`generator` is fit's `x`).
        options = {k: v for k, v in locals().items() if k not in ("self", "generator", "legacy")}
        _warn("fit_generator", "fit(generator, steps_per_epoch=..., ...)")
        _refuse_sample_counts(legacy)
        return self.fit(generator, **options, **_without_unused(legacy))  # type: ignore[attr-defined]

    def evaluate_generator(
        self,
        generator: Any,
        steps: int | None = None,
        callbacks: Any = None,
        verbose: int | str = 0,
        **legacy: Any,
    ) -> Any:
        """Keras 2's `evaluate_generator`: `evaluate(generator, steps=...)`, with a warning."""
        _warn("evaluate_generator", "evaluate(generator, steps=...)")
        _refuse_sample_counts(legacy)
        _check_unused(legacy, "evaluate_generator")
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)  # type: ignore[attr-defined]

    def predict_generator(
        self,
        generator: Any,
        steps: int | None = None,
        callbacks: Any = None,
        verbose: int | str = 0,
        **legacy: Any,
    ) -> Any:
        """Keras 2's `predict_generator`: `predict(generator, steps=...)`, with a warning."""
        _warn("predict_generator", "predict(generator, steps=...)")
        _refuse_sample_counts(legacy)
        _check_unused(legacy, "predict_generator")
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose)  # type: ignore[attr-defined]


def _warn(old: str, new: str) -> None:
    warnings.warn(
        f"{old} was removed in Keras 2.4 (Keras 3 has none); use model.{new}, which takes "
        "generators and keras.utils.PyDataset objects.",
        DeprecationWarning,
        stacklevel=3,
    )


def _refuse_sample_counts(legacy: dict[str, Any]) -> None:
    for old, new in (
        ("samples_per_epoch", "steps_per_epoch"),
        ("nb_val_samples", "validation_steps"),
        ("val_samples", "steps"),
    ):
        if old in legacy:
            raise ConfigError(
                f"Keras 1's `{old}` counted samples; Keras 2 and 3 count batches. Pass "
                f"`{new}={legacy[old]} // batch_size` (the number of batches your generator "
                "yields per epoch) instead."
            )


def _without_unused(legacy: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in legacy.items() if k not in _UNUSED}


def _check_unused(legacy: dict[str, Any], method: str) -> None:
    unknown = sorted(set(legacy) - set(_UNUSED))
    if unknown:
        raise ConfigError(f"{method}() got unexpected keyword arguments: {', '.join(unknown)}.")
