"""Multi-dataset training under one layout: COCO + MPII mapped into union21, ratio sampling, collate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hpefast.data import CocoKeypointDataset, MpiiDataset, MultiDataset, collate
from hpefast.data.synthetic import write_dataset


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    coco_root = tmp_path_factory.mktemp("multi_coco")
    mpii_root = tmp_path_factory.mktemp("multi_mpii")
    coco = write_dataset(coco_root, "coco", num_images=6, seed=1, image_size=(160, 120))
    mpii = write_dataset(mpii_root, "mpii", num_images=3, seed=2, image_size=(160, 120))
    kw = dict(input_size=(48, 64), layout="union21", train=True)
    return (
        CocoKeypointDataset(coco, coco_root / "images", dataset_id=0, **kw),
        MpiiDataset(mpii, mpii_root / "images", dataset_id=1, **kw),
    )


def test_multidataset_items(sources):
    coco, mpii = sources
    multi = MultiDataset([coco, mpii], ratios=[1, 1])
    assert len(multi) == len(coco) + len(mpii) and multi.layout.name == "union21"
    assert multi.locate(0) == (0, 0) and multi.locate(len(coco)) == (1, 0)
    assert multi.locate(len(multi) - 1) == (1, len(mpii) - 1)
    batch = collate([multi[0], multi[len(coco)], multi[1]])
    assert batch["keypoints"].shape == (3, 21, 2) and batch["dataset_id"].tolist() == [0, 1, 0]
    lab = batch["labelled"]
    assert lab[1, :5].sum() == 0  # MPII has no face joints
    assert lab[0, 17:].sum() == 0 and lab[2, 17:].sum() == 0  # COCO has no head_top/neck/thorax/pelvis
    assert lab[1, 17:].sum() > 0
    with pytest.raises(IndexError):
        multi[len(multi)]


def test_layouts_must_agree(sources, shared_data):
    coco, _ = sources
    root = shared_data / "samples" / "mpii"
    with pytest.raises(ValueError, match="one layout"):
        MultiDataset([coco, MpiiDataset(root / "test_mpii.json", root)])
    with pytest.raises(ValueError, match="ratios"):
        MultiDataset([coco, coco], ratios=[1, -1])
    with pytest.raises(ValueError, match="no datasets"):
        MultiDataset([])


def test_sampler_ratios_and_determinism(sources):
    """MultiDataset's sampler is the trainer's ResumableSampler: an epoch splits len(multi) samples by the
    ratios (exactly, floor + remainder to the largest), cycles each source through a permutation before
    repeating, and depends only on (seed, epoch)."""
    coco, mpii = sources
    multi = MultiDataset([coco, mpii], ratios=[0.8, 0.2])
    total = len(multi)
    sampler = multi.sampler(batch_size=1, seed=5)
    seq = np.array([i for i, _ in sampler])
    assert len(seq) == len(sampler) == total
    want_mpii = int(np.floor(total * 0.2))
    assert int(np.sum(seq >= len(coco))) == want_mpii
    again = np.array([i for i, _ in multi.sampler(batch_size=1, seed=5)])
    assert np.array_equal(seq, again)
    sampler.set_epoch(1)
    assert not np.array_equal(seq, np.array([i for i, _ in sampler]))
    # within a source: whole permutations are used before any index repeats, so every index of a source
    # appears floor(count / n) or ceil(count / n) times
    for lo, n in ((0, len(coco)), (len(coco), len(mpii))):
        mine = seq[(seq >= lo) & (seq < lo + n)] - lo
        hits = np.bincount(mine, minlength=n)
        assert hits.max() - hits.min() <= 1 and hits.sum() == len(mine)
    assert set(seq.tolist()) <= set(range(total))


def test_sampler_distributed_partition(sources):
    coco, mpii = sources
    multi = MultiDataset([coco, mpii], ratios=[1, 3])
    one = multi.sampler(batch_size=2, seed=0)
    order = one.epoch_order(0)
    parts = [[i for i, _ in multi.sampler(batch_size=1, seed=0, rank=r, world_size=2)] for r in range(2)]
    # rank r takes order[r::2]; the global batch (2 = 1 x 2 ranks) keeps the same epoch length
    assert np.array_equal(np.stack(parts, 1).reshape(-1), order)


def test_dataloader_with_sampler(sources):
    coco, mpii = sources
    multi = MultiDataset([coco, mpii], ratios=[1, 1])
    loader = torch.utils.data.DataLoader(
        multi, batch_size=4, sampler=multi.sampler(batch_size=4, seed=1), collate_fn=collate, num_workers=0
    )
    batches = list(loader)
    assert len(batches) == len(multi) // 4
    ids = torch.cat([b["dataset_id"] for b in batches])
    assert set(ids.tolist()) == {0, 1}
    for b in batches:
        assert b["image"].shape == (4, 3, 64, 48) and torch.isfinite(b["image"]).all()
    # seeded per sample: the same epoch gives the same augmentations
    again = list(
        torch.utils.data.DataLoader(
            multi, batch_size=4, sampler=multi.sampler(batch_size=4, seed=1), collate_fn=collate
        )
    )
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(batches, again))


def test_worker_augmentation_is_reproducible(sources):
    """Augmentation draws from torch's generator, which DataLoader seeds per worker from the base seed."""
    coco, _ = sources

    def run():
        torch.manual_seed(123)
        loader = torch.utils.data.DataLoader(coco, batch_size=4, collate_fn=collate, num_workers=1)
        return [(m["rotation"], m["flip"], float(m["scale"][0])) for b in loader for m in b["meta"]]

    first, second = run(), run()
    assert first == second
    assert len({r for r, _, _ in first}) > 1  # and it does augment
