"""TopDownPredictor: backends agree, equal the model + decoder run by hand, crops are the UDP warp, bad input
is refused clearly; ``hpefast predict`` draws an overlay. Real COCO sample images and boxes."""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import pytest
import torch
from deploy_helpers import INPUT_SIZE, lively_model, well_posed

from hpefast.codec import HeatmapCodec
from hpefast.data.transforms import (
    box_to_center_scale,
    crop_to_image,
    get_udp_warp_matrix,
    image_to_crop,
    to_tensor,
    warp_image,
)
from hpefast.deploy import TopDownPredictor
from hpefast.deploy.crops import crop_cv2, crop_torch, image_to_device, warp_matrices
from hpefast.export import to_onnx
from hpefast.keypoints import get_schema
from hpefast.models import build_model, save_model
from hpefast.ops import decode_heatmaps, encode_heatmaps


@pytest.fixture(scope="module")
def model():
    return lively_model()


@pytest.fixture(scope="module")
def onnx_path(model, tmp_path_factory):
    return to_onnx(model, tmp_path_factory.mktemp("deploy") / "tiny.onnx")


@pytest.fixture
def sample(shared_data):
    """(BGR image, boxes [N, 4]) of a real COCO image with five annotated people (two small)."""
    coco = shared_data / "samples" / "coco"
    image = cv2.imread(str(coco / "000000196141.jpg"))
    ann = json.loads((coco / "test_coco.json").read_text())
    boxes = np.array([a["bbox"] for a in ann["annotations"] if a["image_id"] == 196141], dtype=np.float64)
    assert image is not None and image.shape == (429, 640, 3) and len(boxes) == 5
    return image, boxes


def msra(model, decode: str) -> HeatmapCodec:
    """An MSRA codec of the model's sizes with decoder ``decode`` (its flip-back shifts one pixel)."""
    return HeatmapCodec(
        method="msra", input_size=INPUT_SIZE, heatmap_size=model.cfg.heatmap_size, decoder=decode
    )


def by_hand(
    model, image, boxes, flip: bool = True, decode: str = "dark_udp"
) -> tuple[torch.Tensor, np.ndarray]:
    """The pipeline written out from its parts, one box at a time: the reference for the predictor.
    ``dark_udp`` reads the maps as UDP (no flip shift); other decoders as MSRA (mmpose's shift_heatmap:
    the flipped-back maps move one pixel right). Returns (flip-averaged heatmaps [N, K, h, w], keypoints
    [N, K, 3] image pixels + score)."""
    schema = get_schema(model.cfg.layout)
    w, h = INPUT_SIZE
    maps, out = [], []
    for box in boxes:
        center, scale = box_to_center_scale(box, aspect_ratio=w / h)
        crop = warp_image(image, get_udp_warp_matrix(center, scale, 0.0, INPUT_SIZE), INPUT_SIZE)
        x = to_tensor(crop)[None]
        with torch.no_grad():
            hm = model(x)
            if flip:
                hf = model(x.flip(3))
                back = torch.stack([hf[0, j] for j in schema.flip_index])[None].flip(-1)
                if decode != "dark_udp":
                    back = torch.cat([back[..., :1], back[..., :-1]], dim=-1)
                hm = (hm + back) / 2
        kp, score = decode_heatmaps(hm.contiguous(), INPUT_SIZE, method=decode)
        xy = crop_to_image(kp[0].double().numpy(), center, scale, INPUT_SIZE)
        maps.append(hm[0])
        out.append(np.concatenate([xy, score[0, :, None].double().numpy()], axis=1))
    return torch.stack(maps), np.stack(out).astype(np.float32)


def assert_same_predictions(pred, image, boxes, ref_maps: torch.Tensor, ref_kp: np.ndarray, kp_tol=0.05):
    """Heatmaps of ``pred`` equal ``ref_maps`` to 1e-4; keypoints equal ``ref_kp`` to ``kp_tol`` px on the
    well-posed joints (at least a few of them), argmax cells equal everywhere; scores to 1e-4."""
    crops, _, _ = pred.preprocess(image, boxes)
    maps = pred.infer(crops)
    assert ref_maps.abs().max() > 0.3
    torch.testing.assert_close(maps, ref_maps, rtol=0, atol=1e-4)
    got = pred.predict(image, boxes)
    assert got.shape == ref_kp.shape and got.dtype == np.float32
    ok = well_posed(ref_maps)
    assert ok.mean() > 0.1, "too few well-posed joints for a meaningful check"
    err = np.abs(got[..., :2] - ref_kp[..., :2]).max(-1)
    assert err[ok].max() <= kp_tol
    assert torch.equal(maps.flatten(2).argmax(-1), ref_maps.flatten(2).argmax(-1))
    np.testing.assert_allclose(got[..., 2], ref_kp[..., 2], rtol=0, atol=1e-4)
    return got


# --------------------------------------------------------------------------------------------------
# equivalence


@pytest.mark.parametrize("flip", [True, False])
def test_predictor_equals_model_and_decoder_by_hand(model, sample, flip):
    image, boxes = sample
    pred = TopDownPredictor(model, backend="torch", flip_test=flip)
    ref_maps, ref_kp = by_hand(model, image, boxes, flip=flip)
    got = assert_same_predictions(pred, image, boxes, ref_maps, ref_kp)
    assert got.shape == (5, 17, 3)
    # Decoded positions lie in their crops: within the padded box (centre +- scale / 2).
    center, scale = box_to_center_scale(boxes, aspect_ratio=INPUT_SIZE[0] / INPUT_SIZE[1])
    ok = well_posed(ref_maps)
    inside = np.abs(got[..., :2] - center[:, None]) <= scale[:, None] / 2 + 1e-3
    assert inside.all(-1)[ok].all()


@pytest.mark.parametrize("decode", ["shift", "argmax"])
def test_predictor_equals_by_hand_with_stable_decoders(model, sample, decode):
    """Decoders without a Newton step are insensitive to float noise: every joint agrees to 1e-3 px."""
    image, boxes = sample
    got = TopDownPredictor(model, codec=msra(model, decode)).predict(image, boxes)
    _, ref = by_hand(model, image, boxes, decode=decode)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-3)


def test_torch_and_onnxruntime_backends_agree(model, onnx_path, sample):
    image, boxes = sample
    torch_pred = TopDownPredictor(model, backend="torch")
    crops, _, _ = torch_pred.preprocess(image, boxes)
    ref_maps, ref_kp = torch_pred.infer(crops), torch_pred.predict(image, boxes)
    from_file = TopDownPredictor(onnx_path)  # backend picked from the suffix
    assert from_file.backend_name == "onnxruntime" and from_file.layout == "coco"
    assert_same_predictions(from_file, image, boxes, ref_maps, ref_kp)
    in_memory = TopDownPredictor(model, backend="onnxruntime")  # exported on the fly
    assert_same_predictions(in_memory, image, boxes, ref_maps, ref_kp)
    for decode in ("shift", "argmax"):
        a = TopDownPredictor(model, codec=msra(model, decode)).predict(image, boxes)
        b = TopDownPredictor(onnx_path, codec=msra(model, decode)).predict(image, boxes)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)


def test_fixed_batch_onnx_is_chunked_and_padded(model, sample, tmp_path):
    image, boxes = sample
    path = to_onnx(model, tmp_path / "b4.onnx", batch=4)
    pred = TopDownPredictor(path)
    assert pred.backend.fixed_batch == 4
    ref_pred = TopDownPredictor(model)
    crops, _, _ = ref_pred.preprocess(image, boxes)
    ref_maps, ref_kp = ref_pred.infer(crops), ref_pred.predict(image, boxes)
    # 5 boxes x 2 (flip) = 10 crops -> 3 chunks of 4, the last one padded
    assert_same_predictions(pred, image, boxes, ref_maps, ref_kp)
    # batch_size chunking of the torch backend
    assert_same_predictions(TopDownPredictor(model, batch_size=3), image, boxes, ref_maps, ref_kp)


def test_onnx_without_metadata_needs_layout(onnx_path, model, sample, tmp_path):
    proto = onnx.load(str(onnx_path))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(ValueError, match="layout"):
        TopDownPredictor(bare)
    image, boxes = sample
    got = TopDownPredictor(bare, layout="coco", codec=msra(model, "shift")).predict(image, boxes[:2])
    ref = TopDownPredictor(model, codec=msra(model, "shift")).predict(image, boxes[:2])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="17 output channels"):
        TopDownPredictor(bare, layout="mpii")


def test_channel_order_and_torch_image(model, sample):
    image, boxes = sample
    pred = TopDownPredictor(model)
    ref = pred.predict(image, boxes)
    rgb = TopDownPredictor(model, channel_order="rgb").predict(np.ascontiguousarray(image[..., ::-1]), boxes)
    np.testing.assert_array_equal(rgb, ref)
    # A torch image gives a tensor on the predictor's device.
    t = pred.predict(torch.from_numpy(image), torch.from_numpy(boxes))
    assert isinstance(t, torch.Tensor) and t.device.type == "cpu"
    np.testing.assert_array_equal(t.numpy(), ref)
    # A non-contiguous numpy view (a slice) is fine too.
    wide = np.zeros((image.shape[0], image.shape[1] * 2, 3), np.uint8)
    wide[:, ::2] = image
    np.testing.assert_array_equal(pred.predict(wide[:, ::2], boxes), ref)


def test_torch_crop_path_matches_cv2_crops(sample):
    """The device crop (grid_sample) samples the same points as cv2.warpAffine."""
    image, boxes = sample
    w, h = INPUT_SIZE
    center, scale = box_to_center_scale(
        np.vstack([boxes, [[600.0, 300.0, 100.0, 200.0]]]), aspect_ratio=w / h
    )
    mats = warp_matrices(center, scale, INPUT_SIZE)
    a = crop_cv2(image, mats, INPUT_SIZE, "bgr")
    b = crop_torch(image_to_device(image, torch.device("cpu")), mats, INPUT_SIZE, "bgr")
    assert a.shape == b.shape == (6, 3, h, w)
    # compare in grey levels: cv2 rounds to uint8 and interpolates in fixed point (1/32 px)
    diff = ((a - b) * torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255).abs()
    assert diff.mean() < 0.5 and torch.quantile(diff.flatten()[::7], 0.99) < 4.0
    # the crop equals to_tensor(warp_image(...)) of the data pipeline exactly
    for i in (0, 5):
        ref = to_tensor(warp_image(image, mats[i], INPUT_SIZE))
        torch.testing.assert_close(a[i], ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("impl", ["cv2", "torch"])
def test_crop_geometry_is_the_udp_warp(impl):
    """A smooth blob at a known image point lands where image_to_crop says (sub-pixel)."""
    hgt, wid = 300, 400
    p = np.array([211.3, 143.7])
    yy, xx = np.mgrid[0:hgt, 0:wid]
    blob = 255 * np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * 6.0**2))
    image = np.repeat(blob[..., None], 3, axis=2).round().astype(np.uint8)
    box = np.array([[150.0, 60.0, 120.0, 170.0]])
    center, scale = box_to_center_scale(box, aspect_ratio=INPUT_SIZE[0] / INPUT_SIZE[1])
    mats = warp_matrices(center, scale, INPUT_SIZE)
    if impl == "cv2":
        crops = crop_cv2(image, mats, INPUT_SIZE, "rgb")
    else:
        crops = crop_torch(image_to_device(image, torch.device("cpu")), mats, INPUT_SIZE, "rgb")
    grey = crops[0, 0] * 0.229 + 0.485  # undo the normalisation of channel 0 -> 0..1
    wgt = grey.clamp_min(0).double().numpy()
    wgt = np.where(wgt > 0.05, wgt, 0.0)
    vv, uu = np.mgrid[0 : INPUT_SIZE[1], 0 : INPUT_SIZE[0]]
    got = np.array([(wgt * uu).sum() / wgt.sum(), (wgt * vv).sum() / wgt.sum()])
    want = image_to_crop(p[None, None], center, scale, INPUT_SIZE)[0, 0]
    assert np.abs(got - want).max() < 0.05


# --------------------------------------------------------------------------------------------------
# geometry on the real sample images: a perfect model must give the ground truth back


class _CropOracle(torch.nn.Module):
    """A stand-in for a perfectly trained model (no trained real-image weights exist here).

    Built from reference crops made by the data pipeline (``warp_image`` + ``to_tensor``) and the
    ground-truth heatmaps of each crop (``encode_heatmaps`` of the GT keypoints warped into the crop by
    ``image_to_crop``; for the mirrored crop, the mirrored keypoints with the schema's flip index). Each
    input crop is matched to its nearest reference crop and gets that crop's GT maps, so the oracle does
    not depend on the predictor's batch order or chunking; ``match_dist`` records how far (RMS, normalised
    units) each input was from its reference: ~0 when the predictor crops exactly the pipeline's region.
    """

    def __init__(self, cfg, refs: torch.Tensor, maps: torch.Tensor) -> None:
        super().__init__()
        self.cfg = cfg
        self.refs, self.maps = refs.flatten(1), maps
        self.match_dist: list[float] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        d = torch.cdist(images.flatten(1).double(), self.refs.double()) / images[0].numel() ** 0.5
        best = d.min(1)
        self.match_dist += best.values.tolist()
        return self.maps[best.indices]


def _oracle_for(image, boxes, kp_image, visible, cfg):
    """(oracle, GT keypoints in crop pixels [N, K, 2]) for one image and its annotation boxes."""
    schema = get_schema(cfg.layout)
    size, hm_size = cfg.image_size, cfg.heatmap_size
    center, scale = box_to_center_scale(boxes, aspect_ratio=size[0] / size[1])
    refs = torch.stack(
        [
            to_tensor(warp_image(image, get_udp_warp_matrix(c, s, 0.0, size), size))
            for c, s in zip(center, scale)
        ]
    )
    kc = torch.tensor(image_to_crop(kp_image, center, scale, size), dtype=torch.float32)
    vis = torch.from_numpy(visible)
    hm, _ = encode_heatmaps(kc, vis, size, hm_size)
    flipped = kc[:, list(schema.flip_index)].clone()
    flipped[..., 0] = size[0] - 1 - flipped[..., 0]
    hm_flip, _ = encode_heatmaps(flipped, vis[:, list(schema.flip_index)], size, hm_size)
    return _CropOracle(cfg, torch.cat([refs, refs.flip(3)]), torch.cat([hm, hm_flip])), kc.numpy()


@pytest.mark.parametrize("crop", ["cv2", "torch"])
def test_oracle_model_gives_ground_truth_on_real_images(shared_data, tmp_path, crop):
    """Correct skeletons on the real COCO sample images, shown with an oracle (no trained real-image
    weights are available): a model that returns each crop's ground-truth heatmaps must, through the whole
    predictor (annotation boxes -> crops -> flip test -> DARK-UDP -> inverse warp), give the annotated
    keypoints back.

    Checked: every labelled joint (v > 0) of every annotation with keypoints on the 4 sample images (181
    joints) whose GT position lies at least 3 sigma = 6 heatmap pixels (24 crop pixels at 192x256) inside
    the heatmap border comes back within 0.05 image pixels (measured: < 3e-4 px). Excluded: joints closer to
    the border than that (2 of the 181), where the encoded Gaussian is cut by the border and DARK's blur
    and Newton step see a truncated peak (errors of 0.3-3 px there). The overlay is written for looking.
    """
    from hpefast.visualize import draw_pose, make_grid

    coco = shared_data / "samples" / "coco"
    ann = json.loads((coco / "test_coco.json").read_text())
    cfg = build_model("tiny").cfg  # 192 x 256 input, 48 x 64 heatmaps, COCO-17
    (w, h), (hw, hh) = cfg.image_size, cfg.heatmap_size
    sigma = 2.0
    errors, excluded, tiles = [], 0, []
    for entry in ann["images"]:
        image = cv2.imread(str(coco / entry["file_name"]))
        anns = [a for a in ann["annotations"] if a["image_id"] == entry["id"] and a["num_keypoints"] > 0]
        assert image is not None and anns
        boxes = np.array([a["bbox"] for a in anns], dtype=np.float64)
        gt = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), 17, 3)
        labelled = gt[..., 2] > 0
        oracle, kc = _oracle_for(image, boxes, gt[..., :2], labelled, cfg)
        pred = TopDownPredictor(oracle, crop=crop, batch_size=4)  # 4: chunks do not follow images
        out = pred.predict(image, boxes)
        assert out.shape == (len(anns), 17, 3)
        # the predictor's crops are the data pipeline's crops (cv2: exactly; grid_sample: to a grey level)
        assert len(oracle.match_dist) == 2 * len(anns)
        assert max(oracle.match_dist) < (1e-6 if crop == "cv2" else 2e-2)
        hx, hy = kc[..., 0] * (hw - 1) / (w - 1), kc[..., 1] * (hh - 1) / (h - 1)
        inner = np.minimum.reduce([hx, hy, hw - 1 - hx, hh - 1 - hy]) >= 3 * sigma
        errors.append(np.abs(out[..., :2] - gt[..., :2]).max(-1)[labelled & inner])
        excluded += int((labelled & ~inner).sum())
        assert (out[..., 2][labelled & inner] > 0.9).all()  # a GT peak of 1 scores ~1
        tiles.append(draw_pose(image, out, "coco", visible=labelled.astype(np.float32), box=boxes))
    errors = np.concatenate(errors)
    assert len(errors) >= 170 and excluded <= 5
    assert errors.max() <= 0.05, f"max error {errors.max():.4f} px"
    ok, buf = cv2.imencode(".png", make_grid(tiles, columns=2, cell=(640, 480)))
    assert ok
    (tmp_path / "oracle_overlay.png").write_bytes(buf.tobytes())
    assert cv2.imread(str(tmp_path / "oracle_overlay.png")).shape == (960, 1280, 3)


# --------------------------------------------------------------------------------------------------
# bad input


@pytest.fixture(scope="module")
def predictor(model):
    return TopDownPredictor(model, flip_test=False)


def test_empty_boxes_give_empty_result(predictor, sample):
    image, _ = sample
    for empty in ([], np.zeros((0, 4)), torch.zeros(0, 4)):
        out = predictor.predict(image, empty)
        assert tuple(out.shape) == (0, 17, 3)


@pytest.mark.parametrize(
    "image, exc, match",
    [
        (np.zeros((64, 64, 3), np.float32), TypeError, "uint8"),
        (np.zeros((64, 64), np.uint8), ValueError, "grayscale"),
        (np.zeros((64, 64, 4), np.uint8), ValueError, "alpha"),
        (np.zeros((3, 64, 64), np.uint8), ValueError, "channels first"),
        (np.zeros((0, 64, 3), np.uint8), ValueError, "empty"),
        ([[0, 0, 0]], TypeError, "numpy array or torch tensor"),
    ],
)
def test_bad_images(predictor, image, exc, match):
    with pytest.raises(exc, match=match):
        predictor.predict(image, [[1, 1, 10, 10]])


@pytest.mark.parametrize(
    "boxes, match",
    [
        ([[10, 10, 50, 80], [20, 20, 0, 30]], r"boxes\[1\].*zero or negative size"),
        ([[10, 10, -5, 30]], r"boxes\[0\].*zero or negative size"),
        ([[10, 10, 50, float("nan")]], r"boxes\[0\].*not finite"),
        ([[700, 10, 50, 80]], r"boxes\[0\].*outside the 640x429 image"),
        ([[-100, 10, 50, 80]], r"outside"),
        ([[10, 10, 50]], r"\[N, 4\]"),
        ([10, 10, 50, 80], r"\[N, 4\]"),
        ([[1, 2, 3, 4], [1, 2, 3]], r"\[N, 4\]"),
    ],
)
def test_bad_boxes(predictor, sample, boxes, match):
    image, _ = sample
    with pytest.raises(ValueError, match=match):
        predictor.predict(image, boxes)


def test_boxes_partly_outside_the_image_work(model, sample):
    """Boxes reaching past the image border: the crop pads with zeros exactly as the by-hand warp does."""
    image, _ = sample
    boxes = np.array([[600.0, 300.0, 100.0, 200.0], [-20.0, -10.0, 60.0, 90.0]])
    out = TopDownPredictor(model, codec=msra(model, "shift")).predict(image, boxes)
    _, ref = by_hand(model, image, boxes, decode="shift")
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-3)


def test_model_of_another_layout_is_refused(tmp_path, sample):
    mpii = build_model("tiny", layout="mpii", image_size=INPUT_SIZE).eval()
    with pytest.raises(ValueError, match="'mpii'.*not 'coco'"):
        TopDownPredictor(mpii, layout="coco")
    path = to_onnx(mpii, tmp_path / "mpii.onnx")
    with pytest.raises(ValueError, match="'mpii'.*not 'coco'"):
        TopDownPredictor(path, layout="coco")
    ckpt = save_model(mpii, tmp_path / "mpii.safetensors")
    with pytest.raises(ValueError, match="mpii"):
        TopDownPredictor(ckpt, layout="coco")
    # the right layout works and gives MPII's 16 joints
    image, boxes = sample
    assert TopDownPredictor(ckpt, layout="mpii").predict(image, boxes[:1]).shape == (1, 16, 3)


def test_bad_model_arguments(model, onnx_path, tmp_path):
    with pytest.raises(FileNotFoundError):
        TopDownPredictor(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="model_or_path"):
        TopDownPredictor(42)
    with pytest.raises(ValueError, match="backend 'onnxruntime' or 'tensorrt'"):
        TopDownPredictor(onnx_path, backend="torch")
    with pytest.raises(ValueError, match="backend must be"):
        TopDownPredictor(model, backend="tflite")
    with pytest.raises(TypeError, match="codec must be"):
        TopDownPredictor(model, codec="dark")
    with pytest.raises(ValueError, match=r"codec.heatmap_size \(10, 10\) does not match"):
        TopDownPredictor(model, codec=HeatmapCodec(input_size=INPUT_SIZE, heatmap_size=(10, 10)))
    with pytest.raises(ValueError, match="channel_order"):
        TopDownPredictor(model, channel_order="bgra")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            TopDownPredictor(model, backend="tensorrt", device="cpu")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an onnx model")
    with pytest.raises(ValueError, match="garbage.onnx"):
        TopDownPredictor(garbage)


# --------------------------------------------------------------------------------------------------
# GPU: the torch backend keeps everything on the device


@pytest.mark.cuda
def test_cuda_predictor_matches_cpu(model, sample):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    image, boxes = sample
    cpu = TopDownPredictor(model, device="cpu", crop="torch").predict(image, boxes)
    gpu_pred = TopDownPredictor(lively_model(), device="cuda")
    assert gpu_pred.crop == "torch"
    out = gpu_pred.predict(torch.from_numpy(image).cuda(), boxes)
    assert out.device.type == "cuda"
    assert (out.cpu()[..., :2] - torch.from_numpy(cpu[..., :2])).abs().median() <= 0.05


# --------------------------------------------------------------------------------------------------
# CLI


def test_cli_predict_draws_overlay(model, tmp_path, shared_data, capsys):
    from hpefast.cli import main

    coco = shared_data / "samples" / "coco"
    ckpt = save_model(model, tmp_path / "tiny.safetensors")
    image_path = coco / "000000040083.jpg"
    dets = json.loads((coco / "test_coco_det_AP_H_56.json").read_text())
    n = sum(1 for d in dets if d["image_id"] == 40083 and d["score"] >= 0.5)
    assert n > 0
    out, kp_json = tmp_path / "overlay.png", tmp_path / "kp.json"
    argv = [
        "predict",
        str(image_path),
        "--boxes",
        str(coco / "test_coco_det_AP_H_56.json"),
        "--model",
        str(ckpt),
    ]
    argv += ["--out", str(out), "--json", str(kp_json), "--score-threshold", "0.5", "--kpt-threshold", "0"]
    assert main(argv) == 0
    assert f"{n} people" in capsys.readouterr().out
    overlay, image = cv2.imread(str(out)), cv2.imread(str(image_path))
    assert overlay.shape == image.shape and (overlay != image).any(axis=2).mean() > 0.002
    doc = json.loads(kp_json.read_text())
    assert doc["layout"] == "coco" and len(doc["people"]) == n
    assert len(doc["people"][0]["keypoints"]) == 17 * 3

    # a plain list of boxes, and the errors (--overwrite: the same overlay file again)
    boxes = tmp_path / "boxes.json"
    again = ["predict", str(image_path), "--boxes", str(boxes), "--model", str(ckpt), "--out", str(out)]
    boxes.write_text(json.dumps([[38.08, 110.95, 174.71, 174.71]]))
    assert main([*again, "--overwrite"]) == 0
    boxes.write_text(json.dumps([[38.08, 110.95, 0, 174.71]]))
    assert main([*again, "--overwrite"]) == 2
    assert "zero or negative size" in capsys.readouterr().err
    boxes.write_text("{not json")
    assert (
        main(
            [
                "predict",
                str(image_path),
                "--boxes",
                str(boxes),
                "--model",
                str(ckpt),
                "--out",
                str(out),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "not valid json" in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                str(tmp_path / "no.jpg"),
                "--boxes",
                str(boxes),
                "--model",
                str(ckpt),
                "--out",
                str(out),
                "--overwrite",
            ]
        )
        == 2
    )
    assert "image not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "boxes, extra, match",
    [
        ([[38.0, 110.0, 170.0, 170.0]], ["--out", "overlay.txt"], "cannot write the suffix '.txt'"),
        ([["a", 110.0, 170.0, 170.0]], [], "entry 0 is not [x, y, w, h]"),
        ([{"bbox": [38.0, None, 170.0, 170.0]}], [], "detection 0: 'bbox' is not [x, y, w, h]"),
    ],
)
def test_cli_predict_rejects_bad_input(model, tmp_path, shared_data, capsys, boxes, extra, match):
    from hpefast.cli import main

    ckpt = save_model(model, tmp_path / "tiny.safetensors")
    image_path = shared_data / "samples" / "coco" / "000000040083.jpg"
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    argv = ["predict", str(image_path), "--boxes", str(tmp_path / "boxes.json"), "--model", str(ckpt)]
    argv += [str(tmp_path / a) if a.startswith("overlay") else a for a in extra or ["--out", "overlay.png"]]
    assert main(argv) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "overlay.txt").exists()


def test_make_grid_rejects_zero_columns():
    from hpefast.visualize import make_grid

    with pytest.raises(ValueError, match="columns must be >= 1"):
        make_grid([np.zeros((4, 4, 3), np.uint8)], columns=0)
