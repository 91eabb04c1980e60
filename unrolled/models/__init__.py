"""Models: `Sequential`, the functional `Model`, and `Input` (Keras's `keras.models` path)."""

from unrolled.layers.input_layer import Input
from unrolled.models.feedback import Feedback
from unrolled.models.functional import Model
from unrolled.models.kernel_builds import compile_kernels
from unrolled.models.model_files import load_model
from unrolled.models.rollout import forecast
from unrolled.models.sequential import Sequential
from unrolled.models.stepping import Stepper
from unrolled.models.streaming import Stream

__all__ = [
    "Feedback",
    "Input",
    "Model",
    "Sequential",
    "Stepper",
    "Stream",
    "compile_kernels",
    "forecast",
    "load_model",
]
