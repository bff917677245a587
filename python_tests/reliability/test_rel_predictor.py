"""Issue 11, item 7: bounded memory. The predictor crops, runs and decodes at most ``batch_size`` boxes at
a time (the peak-memory curve against the number of boxes is in benchmarks/test_predictor_memory.py)."""

from __future__ import annotations

import numpy as np
import torch

from hpefast.deploy import TopDownPredictor
from hpefast.models import build_model


def test_predictor_never_holds_more_than_a_batch_of_crops():
    model = build_model("tiny", layout="coco", image_size=(48, 64)).eval()
    rng = np.random.default_rng(0)
    image = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    n = 23
    boxes = np.concatenate([rng.random((n, 2)) * [100, 60], np.full((n, 2), [40.0, 50.0])], 1)
    whole = TopDownPredictor(model, batch_size=64).predict(image, boxes)

    chunked = TopDownPredictor(model, batch_size=5)
    seen = []
    infer = chunked.infer

    def spy(crops: torch.Tensor) -> torch.Tensor:
        seen.append(crops.shape[0])
        return infer(crops)

    chunked.infer = spy
    out = chunked.predict(image, boxes)
    assert max(seen) <= 5 and sum(seen) == n  # never all 23 crops (and their flips) at once
    np.testing.assert_allclose(out, whole, rtol=0, atol=1e-4)  # same keypoints, same order
    assert chunked.predict(image, np.zeros((0, 4))).shape == (0, 17, 3)
