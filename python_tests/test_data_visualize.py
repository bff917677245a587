"""draw_pose and ``hpefast show-data``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hpefast.cli import main as cli_main
from hpefast.visualize import draw_pose, make_grid


def test_draw_pose_marks_joints_and_limbs():
    img = np.zeros((100, 120, 3), np.uint8)
    kp = np.zeros((16, 3))
    kp[0] = (20, 80, 1)  # right_ankle
    kp[1] = (20, 50, 1)  # right_knee
    kp[5] = (90, 80, 0)  # left_ankle, not visible: not drawn
    out = draw_pose(img, kp, "mpii", radius=3, thickness=1)
    assert img.sum() == 0  # the input is not modified
    assert tuple(out[80, 20]) == (0, 128, 255) and tuple(out[50, 20]) == (0, 128, 255)  # right joints orange
    assert out[65, 20].sum() > 0  # the right_ankle - right_knee link
    assert out[80, 90].sum() == 0
    both = draw_pose(img, np.stack([kp, kp + [5, 0, 0]]), "mpii", radius=2)
    assert both[80, 25].sum() > 0
    with pytest.raises(ValueError, match="K=17"):
        draw_pose(img, np.zeros((16, 2)), "coco")


def test_make_grid():
    tiles = [np.full((30, 40, 3), i * 40, np.uint8) for i in range(5)]
    grid = make_grid(tiles, columns=2, cell=(40, 30))
    assert grid.shape == (90, 80, 3) and grid[45, 60, 0] == 120


@pytest.mark.parametrize("folder", ["coco", "mpii", "aic", "ap10k", "crowdpose"])
def test_show_data_samples(shared_data, tmp_path, folder, capsys):
    root = shared_data / "samples" / folder
    out = tmp_path / f"{folder}.png"
    assert (
        cli_main(["show-data", str(root / f"test_{folder}.json"), str(root), "--out", str(out), "--num", "2"])
        == 0
    )
    grid = cv2.imread(str(out))
    assert grid is not None and grid.shape == (360, 4 * 480, 3)
    assert "wrote" in capsys.readouterr().out


def test_show_data_crops(tmp_path):
    from hpefast.data.synthetic import write_dataset

    ann = write_dataset(tmp_path, "coco", num_images=2, seed=0)
    out = tmp_path / "crops.png"
    argv = [
        "show-data",
        str(ann),
        str(tmp_path / "images"),
        "--out",
        str(out),
        "--crops",
        "--train",
        "--layout",
        "union21",
        "--input-size",
        "96",
        "128",
        "--num",
        "4",
        "--columns",
        "2",
    ]
    assert cli_main(argv) == 0
    assert cv2.imread(str(out)).shape == (256, 192, 3)


def test_show_data_errors(tmp_path, capsys):
    (tmp_path / "x.json").write_text("[")
    assert (
        cli_main(["show-data", str(tmp_path / "x.json"), str(tmp_path), "--out", str(tmp_path / "o.png")])
        == 2
    )
    assert "malformed json" in capsys.readouterr().err
