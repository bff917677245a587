"""ViTPose models in plain torch.

- ``ViTPoseConfig`` / ``VARIANTS`` (config.py): typed architecture, published S/B/L/H + tiny.
- ``ViT`` (vit.py): the backbone, with ViTPose+ experts; ``HeatmapHead`` (heads.py): decoders.
- ``ViTPose`` / ``build_model`` (vitpose.py): the model, layer-decay parameter groups.
- ``checkpoint``: hpefast's own format (safetensors + json), ``save_model`` / ``load_model``.
- ``convert``: official ViTPose / ViTPose+ / union checkpoints, MAE backbone init.
"""

from hpefast.models.config import VARIANTS, ViTPoseConfig
from hpefast.models.vitpose import ViTPose, build_model

__all__ = ["VARIANTS", "ViTPose", "ViTPoseConfig", "build_model", "load_model", "save_model"]


def __getattr__(name: str):
    if name in ("save_model", "load_model"):
        from hpefast.models import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'hpefast.models' has no attribute {name!r}")
