"""Other frameworks' files: Keras model import and ONNX export.

`from_keras(path)` reads a Keras `.keras` or `.h5` file (h5py, no TensorFlow) into an
`unrolled` model; `to_onnx(model, path)` writes an ONNX graph for onnxruntime and other
runtimes, with `step=True` for streaming one timestep at a time. h5py and onnx are optional
dependencies, imported only when these functions run.
"""

from unrolled.interop.keras_config import UnsupportedLayerError
from unrolled.interop.keras_import import from_keras
from unrolled.interop.onnx_export import ExportError, OnnxSignature, StateSpec, to_onnx

__all__ = [
    "ExportError",
    "OnnxSignature",
    "StateSpec",
    "UnsupportedLayerError",
    "from_keras",
    "to_onnx",
]
