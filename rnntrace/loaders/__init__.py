"""Load a sequence or a trained recurrent model from a user's file, safely; save one with its settings.

Nothing here ever executes a byte of a user's file (how, in ``files.py``). Along its seams:
    files.py        bytes in: safe reading, the size caps and limits, ``LoadError``, tensor containers
    sequences.py    ``read_sequence``: X from ``.csv`` / ``.npy`` / ``.npz``
    checkpoints.py  ``load_model``: a state_dict's layout, its embedding and head, ``LoadedModel``
    save.py         ``save``: safetensors with the settings a weight file cannot hold
"""

from .checkpoints import EMBEDDING_NAME, GATES, HEAD_NAME, LoadedModel, load_model
from .files import (
    ACCEPTED_MODELS,
    CHECKPOINT_KEYS,
    MAX_KEYS,
    MAX_MODEL_BYTES,
    MAX_NPZ_MEMBERS,
    MAX_PARAMETERS,
    MAX_PICKLE_BYTES,
    MAX_SEQUENCE_BYTES,
    MAX_SEQUENCE_ELEMENTS,
    MAX_SEQUENCE_MAGNITUDE,
    MAX_WEIGHT_MAGNITUDE,
    MODEL_EXTENSIONS,
    SAVE_METADATA_KEY,
    SEQUENCE_EXTENSIONS,
    LoadError,
)
from .save import save
from .sequences import INDEX_COLUMNS, LoadedSequence, load_sequence, read_sequence

__all__ = [
    "ACCEPTED_MODELS",
    "CHECKPOINT_KEYS",
    "EMBEDDING_NAME",
    "GATES",
    "HEAD_NAME",
    "INDEX_COLUMNS",
    "MAX_KEYS",
    "MAX_MODEL_BYTES",
    "MAX_NPZ_MEMBERS",
    "MAX_PARAMETERS",
    "MAX_PICKLE_BYTES",
    "MAX_SEQUENCE_BYTES",
    "MAX_SEQUENCE_ELEMENTS",
    "MAX_SEQUENCE_MAGNITUDE",
    "MAX_WEIGHT_MAGNITUDE",
    "MODEL_EXTENSIONS",
    "SAVE_METADATA_KEY",
    "SEQUENCE_EXTENSIONS",
    "LoadError",
    "LoadedModel",
    "LoadedSequence",
    "load_model",
    "load_sequence",
    "read_sequence",
    "save",
]
