"""Other frameworks: Keras model import, ONNX export, and torch.nn recurrent modules.

`from_keras(path)` reads a Keras `.keras` or `.h5` file (h5py, no TensorFlow) into an
`unrolled` model; `to_onnx(model, path)` writes an ONNX graph for onnxruntime and other
runtimes, with `step=True` for streaming one timestep at a time. h5py and onnx are optional
dependencies, imported only when these functions run. `from_torch(module)` turns a
`torch.nn.LSTM`/`GRU`/`RNN` into our layers and `to_torch(layer)` does the reverse, weights
copied exactly.
"""

from unrolled.interop.keras_config import UnsupportedLayerError
from unrolled.interop.keras_import import from_keras
from unrolled.interop.onnx_export import ExportError, OnnxSignature, StateSpec, to_onnx
from unrolled.interop.torch_modules import from_torch, to_torch

__all__ = [
    "ExportError",
    "OnnxSignature",
    "StateSpec",
    "UnsupportedLayerError",
    "from_keras",
    "from_torch",
    "to_onnx",
    "to_torch",
]
