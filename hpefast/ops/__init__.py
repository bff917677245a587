"""Thin torch wrappers over the compiled kernels, registered as ``torch.library`` custom ops
(namespace ``hpefast``) with fake implementations (and autograd where differentiable)."""

from __future__ import annotations

__all__: list[str] = []
