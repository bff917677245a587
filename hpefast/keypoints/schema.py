"""Keypoint schemas: the joint set of a dataset (names, OKS sigmas, flip pairs, skeleton, loss weights).

A schema is plain data. ``keys`` gives each joint a global identity used by
:func:`hpefast.keypoints.map_keypoints`: two joints of different schemas are the same joint exactly when
their keys are equal (COCO ``left_wrist`` and MPII ``left_wrist`` share the key ``left_wrist``; MPII
``head_top`` and AIC ``head_top`` are annotated differently and carry the keys ``mpii/head_top`` and
``aic/head_top``). Keys default to the names, so a user schema that names its joints like COCO maps to
COCO without further work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hpefast.errors import InputError

__all__ = ["KeypointSchema", "get_schema", "register_schema", "list_schemas"]


@dataclass(frozen=True, eq=False)
class KeypointSchema:
    """The joint set of a dataset or a training layout.

    Attributes:
        name: registry name, e.g. ``"coco"``.
        names: joint names, K of them, unique.
        sigmas: [K] float64, per-joint OKS constants (COCO's kappa / 2 convention, as pycocotools).
        flip_index: [K] index of each joint's mirror partner (itself for centre joints); an involution.
        skeleton: links as 0-based (i, j) joint pairs, for drawing.
        joint_weights: [K] float64 loss weights (the ``joint_weights`` of mmpose configs).
        keys: [K] global joint identities used for mapping between schemas; ``None`` = the names.
        upper_body: indices of the upper-body joints, for half-body augmentation; ``None`` = no half-body.
    """

    name: str
    names: tuple[str, ...]
    sigmas: np.ndarray
    flip_index: tuple[int, ...]
    skeleton: tuple[tuple[int, int], ...]
    joint_weights: np.ndarray
    keys: tuple[str, ...] | None = field(default=None)
    upper_body: tuple[int, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"KeypointSchema: name must be a non-empty string, got {self.name!r}")
        names = tuple(str(n) for n in self.names)
        k = len(names)
        if k == 0:
            raise InputError(f"KeypointSchema {self.name!r}: names is empty")
        if len(set(names)) != k:
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"KeypointSchema {self.name!r}: duplicate joint names {dup}")
        sigmas = np.array(self.sigmas, dtype=np.float64).reshape(-1)
        weights = np.array(self.joint_weights, dtype=np.float64).reshape(-1)
        for label, arr in (("sigmas", sigmas), ("joint_weights", weights)):
            if arr.shape != (k,):
                raise InputError(f"KeypointSchema {self.name!r}: {label} has {arr.size} values, expected {k}")
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise InputError(f"KeypointSchema {self.name!r}: {label} must be finite and >= 0")
        if np.any(sigmas <= 0):
            raise InputError(f"KeypointSchema {self.name!r}: sigmas must be > 0")
        flip = tuple(int(i) for i in self.flip_index)
        if len(flip) != k or any(not 0 <= i < k for i in flip):
            raise InputError(f"KeypointSchema {self.name!r}: flip_index must hold {k} indices in [0, {k})")
        bad = [i for i in range(k) if flip[flip[i]] != i]
        if bad:
            raise InputError(f"KeypointSchema {self.name!r}: flip_index is not an involution at joints {bad}")
        skeleton = tuple((int(a), int(b)) for a, b in self.skeleton)
        for a, b in skeleton:
            if not (0 <= a < k and 0 <= b < k) or a == b:
                raise InputError(f"KeypointSchema {self.name!r}: bad skeleton link ({a}, {b}) for {k} joints")
        keys = names if self.keys is None else tuple(str(s) for s in self.keys)
        if len(keys) != k or len(set(keys)) != k:
            raise InputError(f"KeypointSchema {self.name!r}: keys must be {k} unique strings")
        upper = None if self.upper_body is None else tuple(sorted(int(i) for i in self.upper_body))
        if upper is not None and any(not 0 <= i < k for i in upper):
            raise InputError(f"KeypointSchema {self.name!r}: upper_body indices out of range")
        sigmas.setflags(write=False)
        weights.setflags(write=False)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "sigmas", sigmas)
        object.__setattr__(self, "joint_weights", weights)
        object.__setattr__(self, "flip_index", flip)
        object.__setattr__(self, "skeleton", skeleton)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "upper_body", upper)

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    def index(self, joint: str) -> int:
        """Index of a joint by name (ValueError naming the schema when absent)."""
        try:
            return self.names.index(joint)
        except ValueError:
            raise InputError(f"schema {self.name!r} has no joint {joint!r}; has {list(self.names)}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeypointSchema):
            return NotImplemented
        return (
            self.name == other.name
            and self.names == other.names
            and self.flip_index == other.flip_index
            and self.skeleton == other.skeleton
            and self.keys == other.keys
            and self.upper_body == other.upper_body
            and np.array_equal(self.sigmas, other.sigmas)
            and np.array_equal(self.joint_weights, other.joint_weights)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.names, self.keys))

    def __repr__(self) -> str:
        return f"KeypointSchema(name={self.name!r}, num_keypoints={self.num_keypoints})"


_REGISTRY: dict[str, KeypointSchema] = {}


def register_schema(schema: KeypointSchema, overwrite: bool = False) -> None:
    """Make ``schema`` available to :func:`get_schema` under ``schema.name``.

    Registering an equal schema again is a no-op; a different schema under a taken name raises
    ValueError unless ``overwrite=True``.
    """
    if not isinstance(schema, KeypointSchema):
        raise TypeError(f"register_schema: expected a KeypointSchema, got {type(schema).__name__}")
    old = _REGISTRY.get(schema.name)
    if old is not None and old != schema and not overwrite:
        raise InputError(f"register_schema: a different schema named {schema.name!r} is already registered")
    _REGISTRY[schema.name] = schema
    from hpefast.keypoints import mapping

    mapping._clear_cache()


def get_schema(name: str | KeypointSchema) -> KeypointSchema:
    """The registered schema ``name`` ("coco", "mpii", "aic", "crowdpose", "ap10k", "union21", "union23",
    or one added with :func:`register_schema`). A KeypointSchema passes through unchanged."""
    if isinstance(name, KeypointSchema):
        return name
    if not isinstance(name, str):
        raise TypeError(f"get_schema: expected a schema name (str), got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown keypoint schema {name!r}; known: {sorted(_REGISTRY)}") from None


def list_schemas() -> list[str]:
    """Names of all registered schemas."""
    return sorted(_REGISTRY)


def flip_pairs(names: Sequence[str]) -> tuple[int, ...]:
    """Flip index from names: ``left_x`` <-> ``right_x`` (also ``l_`` / ``r_``); others map to themselves."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for i, n in enumerate(names):
        partner = None
        for a, b in (("left_", "right_"), ("right_", "left_"), ("l_", "r_"), ("r_", "l_")):
            if n.startswith(a):
                partner = index.get(b + n[len(a) :])
                break
        out.append(i if partner is None else partner)
    return tuple(out)
