"""Our file format: architecture as JSON, tensors as safetensors, in one zip; nothing executes.

`model.save(path)` and `unrolled.load_model(path)` (in `unrolled.models`, which builds on
this package) write and read the file; `model.save_weights` / `load_weights` keep tensors
alone. Here live the pieces: the archive (`archive.py`), the registry of classes a file
may name (`registry.py`), configs to JSON and back (`serialization.py`), and tensors by
`state_dict` name (`weights.py`). Atomic writes and checked safetensors are in
`unrolled.files`, shared with training checkpoints.

Register your own layers and functions so saved models can name them:

    @unrolled.saving.register_serializable()
    class Scale(unrolled.layers.Layer): ...
"""

from unrolled.saving.archive import FORMAT_VERSION, SUFFIX
from unrolled.saving.registry import register_serializable, registered_name
from unrolled.saving.serialization import deserialize, serialize

# Keras's name for the decorator, so `keras.saving.register_keras_serializable` code ports.
register_keras_serializable = register_serializable

__all__ = [
    "FORMAT_VERSION",
    "SUFFIX",
    "deserialize",
    "register_keras_serializable",
    "register_serializable",
    "registered_name",
    "serialize",
]
