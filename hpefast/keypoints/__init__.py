"""Keypoint schemas (names, OKS sigmas, flip index, skeleton, joint weights) and mappings between them.

>>> from hpefast.keypoints import get_schema, map_keypoints
>>> get_schema("union21").num_keypoints
21
"""

from hpefast.keypoints import builtin as _builtin  # noqa: F401  (registers the built-in schemas)
from hpefast.keypoints import h36m as _h36m  # noqa: F401  (registers the Human3.6M 17-joint schema)
from hpefast.keypoints.mapping import map_keypoints, mapping_index
from hpefast.keypoints.schema import KeypointSchema, get_schema, list_schemas, register_schema

__all__ = [
    "KeypointSchema",
    "get_schema",
    "register_schema",
    "list_schemas",
    "map_keypoints",
    "mapping_index",
]
