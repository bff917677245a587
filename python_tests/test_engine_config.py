"""Typed configs: unknown keys refused with a suggestion, type checks, YAML + overrides, presets."""

from __future__ import annotations

import pytest
import yaml

from hpefast.engine.config import (
    ConfigError,
    DatasetConfig,
    TrainConfig,
    apply_overrides,
    dump_yaml,
    from_dict,
    load_config,
    to_dict,
)
from hpefast.engine.presets import PRESETS, get_preset

# The published ViTPose recipe (configs ViTPose_{small,base,large,huge}_coco_256x192.py).
RECIPE_LAYER_DECAY = {"s": 0.8, "b": 0.75, "l": 0.8, "h": 0.85}
RECIPE_DROP_PATH = {"s": 0.1, "b": 0.3, "l": 0.5, "h": 0.55}


def test_unknown_key_did_you_mean():
    with pytest.raises(
        ConfigError, match=r"unknown config key 'optim\.weight_decy'.*did you mean 'weight_decay'"
    ):
        from_dict(TrainConfig, {"optim": {"weight_decy": 0.1}})


def test_unknown_key_without_close_match_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"'schedule\.zzz'.*valid keys: epochs, gamma, milestones"):
        from_dict(TrainConfig, {"schedule": {"zzz": 1}})


def test_unknown_key_in_dataset_entry():
    with pytest.raises(ConfigError, match=r"data\.datasets\.1\.trian_ann'.*did you mean 'train_ann'"):
        from_dict(TrainConfig, {"data": {"datasets": [{"name": "a"}, {"name": "b", "trian_ann": "x"}]}})


def test_type_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"optim\.lr: expected a number"):
        from_dict(TrainConfig, {"optim": {"lr": "fast"}})
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected an integer"):
        from_dict(TrainConfig, {"data": {"batch_size": 2.5}})
    with pytest.raises(ConfigError, match=r"amp: expected true or false"):
        from_dict(TrainConfig, {"amp": "yes"})
    with pytest.raises(ConfigError, match=r"model\.image_size: expected 2 values"):
        from_dict(TrainConfig, {"model": {"image_size": [192, 256, 3]}})
    with pytest.raises(ConfigError, match=r"model: variant 'bb' is not one of .*did you mean 'b'"):
        from_dict(TrainConfig, {"model": {"variant": "bb"}})


def test_yaml_floats_without_dot_are_numbers():
    # YAML 1.1 reads 5e-4 as a string; the float field still gets a float.
    cfg = from_dict(TrainConfig, yaml.safe_load("optim: {lr: 5e-4}"))
    assert cfg.optim.lr == 5e-4 and isinstance(cfg.optim.lr, float)


def test_round_trip_through_yaml():
    cfg = get_preset("vitpose-l-union23")
    again = from_dict(TrainConfig, yaml.safe_load(dump_yaml(cfg)))
    assert again == cfg
    assert isinstance(again.model.image_size, tuple) and isinstance(again.data.datasets[0], DatasetConfig)


def test_overrides_by_path_index_and_name():
    cfg = load_config(
        "vitpose-b-union21",
        ["optim.lr=1e-3", "data.datasets.mpii.ratio=0.5", "data.datasets.0.val_boxes=null", "ema=0.999"],
    )
    assert cfg.optim.lr == 1e-3
    assert cfg.data.datasets[1].name == "mpii" and cfg.data.datasets[1].ratio == 0.5
    assert cfg.data.datasets[0].val_boxes is None
    assert cfg.ema == 0.999
    # the preset itself is untouched
    assert PRESETS["vitpose-b-union21"]["optim"]["lr"] == 5e-4


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1", r"unknown config key 'optim\.lrr'.*did you mean 'lr'"),
        ("data.datasets.cocoo.ratio=1", r"no entry named 'cocoo'.*did you mean 'coco'"),
        ("data.datasets.5.ratio=1", r"has 2 entries, no index 5"),
        ("optim.lr", r"must look like key=value"),
        ("optim.lr.x=1", r"'lr' is a value, not a section"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("vitpose-b-union21", [override])


def test_yaml_file_with_base_preset(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("base: vitpose-s-coco\nname: mine\noptim:\n  lr: 1.0e-4\n")
    cfg = load_config(path, ["data.batch_size=8"])
    assert cfg.name == "mine" and cfg.optim.lr == 1e-4 and cfg.data.batch_size == 8
    assert cfg.optim.layer_decay == 0.8  # from the base preset (merged, not replaced)
    child = tmp_path / "child.yaml"
    child.write_text("base: exp.yaml\nseed: 3\n")
    assert load_config(child).optim.lr == 1e-4 and load_config(child).seed == 3


def test_yaml_file_unknown_key_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: vitpose-b-coco\noptim:\n  decay_mult: 0.0\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown config key 'optim\.decay_mult'"):
        load_config(path)


def test_missing_file_and_unknown_preset(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"did you mean 'vitpose-b-coco'"):
        load_config("vitpose-b-cooc")


def test_milestones_must_increase_within_the_epochs():
    with pytest.raises(ConfigError, match=r"milestones must be increasing, got \[170, 170\]"):
        load_config("vitpose-b-coco", ["schedule.milestones=[170, 170]"])
    with pytest.raises(ConfigError, match=r"milestones \[170, 220\] go beyond schedule.epochs=210"):
        load_config("vitpose-b-coco", ["schedule.milestones=[170, 220]"])
    with pytest.raises(ConfigError, match=r"beyond schedule.epochs=100"):  # the preset's (170, 200)
        load_config("vitpose-b-coco", ["schedule.epochs=100"])
    with pytest.raises(ConfigError, match="must be positive epochs"):
        load_config("vitpose-b-coco", ["schedule.milestones=[0, 170]"])
    # fine: a shorter schedule with its own milestones, a milestone at the last epoch, none at all
    assert load_config("vitpose-b-coco", ["schedule.epochs=100", "schedule.milestones=[80, 95]"])
    assert load_config("tiny-synthetic", ["schedule.epochs=1", "schedule.milestones=[1]"])
    assert load_config("tiny-synthetic", ["schedule.milestones=[]"]).schedule.milestones == ()


def test_cross_field_validation():
    with pytest.raises(ConfigError, match="milestones must be increasing"):
        load_config("vitpose-b-coco", ["schedule.milestones=[200, 170]"])
    with pytest.raises(ConfigError, match="pckh' needs format 'mpii'"):
        load_config("vitpose-b-coco", ["data.datasets.0.metric=pckh"])
    with pytest.raises(ConfigError, match="names must be unique"):
        load_config("vitpose-b-union21", ["data.datasets.1.name=coco"])
    with pytest.raises(ConfigError, match="layer_decay must be in"):
        load_config("vitpose-b-coco", ["optim.layer_decay=1.5"])


@pytest.mark.parametrize("variant", ["s", "b", "l", "h"])
@pytest.mark.parametrize(
    "task, layout, names",
    [
        ("coco", "coco", ["coco"]),
        ("mpii", "mpii", ["mpii"]),
        ("aic", "aic", ["aic"]),
        ("union21", "union21", ["coco", "mpii"]),
        ("coco+mpii", "union21", ["coco", "mpii"]),
        ("union23", "union23", ["coco", "mpii", "aic"]),
        ("coco+mpii+aic", "union23", ["coco", "mpii", "aic"]),
    ],
)
def test_presets_follow_the_recipe(variant, task, layout, names):
    cfg = get_preset(f"vitpose-{variant}-{task}")
    assert cfg.model.variant == variant and cfg.model.layout == layout
    assert cfg.model.image_size == (192, 256) and cfg.model.drop_path_rate == RECIPE_DROP_PATH[variant]
    assert [d.name for d in cfg.data.datasets] == names
    o, s, t = cfg.optim, cfg.schedule, cfg.test
    assert (o.lr, o.weight_decay, o.layer_decay, o.clip_grad) == (5e-4, 0.1, RECIPE_LAYER_DECAY[variant], 1.0)
    assert (s.epochs, s.warmup_iters, s.milestones, s.gamma) == (210, 500, (170, 200), 0.1)
    c = cfg.model.codec
    assert cfg.data.batch_size * 8 == 512 and c.sigma == 2.0 and c.method == "udp"
    assert t.flip_test and c.decoder == "dark_udp" and c.blur_kernel == 11
    assert c.input_size == (192, 256) and c.heatmap_size == (48, 64)
    metrics = {d.name: d.metric for d in cfg.data.datasets}
    assert metrics.get("mpii", "pckh") == "pckh" and metrics.get("coco", "coco_ap") == "coco_ap"
    load_config(to_dict(cfg))  # every preset passes validation


def test_preset_layout_matches_model_layer_decay_table():
    from hpefast.models.config import VARIANTS

    for v in "sblh":
        assert get_preset(f"vitpose-{v}-coco").optim.layer_decay == VARIANTS[v].layer_decay
        assert get_preset(f"vitpose-{v}-coco").model.drop_path_rate == VARIANTS[v].drop_path_rate


def test_apply_overrides_does_not_mutate():
    tree = to_dict(get_preset("tiny-synthetic"))
    out = apply_overrides(tree, ["seed=5"])
    assert out["seed"] == 5 and tree["seed"] == 0


# ViTPose, Xu et al. 2022, Table 1 and configs ViTPose_{small,base,large,huge}_coco_256x192.py:
# (embed_dim, depth, num_heads, drop_path_rate, layer_decay)
PUBLISHED = {
    "s": (384, 12, 12, 0.1, 0.8),
    "b": (768, 12, 12, 0.3, 0.75),
    "l": (1024, 24, 16, 0.5, 0.8),
    "h": (1280, 32, 16, 0.55, 0.85),
}


def _published(cfg):
    m = cfg.model
    return (m.embed_dim, m.depth, m.num_heads, m.drop_path_rate, cfg.optim.layer_decay)


@pytest.mark.parametrize("variant", list(PUBLISHED))
def test_unset_values_are_the_variants_published_ones(tmp_path, variant):
    # a bare YAML naming only the variant
    path = tmp_path / "mine.yaml"
    path.write_text(f"model: {{variant: {variant}}}\n")
    assert _published(load_config(path)) == PUBLISHED[variant]
    # a preset of another variant, switched by an override: nothing of the old variant survives
    other = "b" if variant != "b" else "s"
    switched = load_config(f"vitpose-{other}-coco", [f"model.variant={variant}"])
    assert _published(switched) == PUBLISHED[variant]
    # a dict and the model config alone
    assert _published(load_config({"model": {"variant": variant}})) == PUBLISHED[variant]
    from hpefast.models import ViTPoseConfig

    m = ViTPoseConfig(variant=variant)
    assert (m.embed_dim, m.depth, m.num_heads, m.drop_path_rate) == PUBLISHED[variant][:4]
    # values the user sets win
    cfg = load_config(path, ["model.drop_path_rate=0.05", "optim.layer_decay=0.9"])
    assert (cfg.model.drop_path_rate, cfg.optim.layer_decay) == (0.05, 0.9)


def test_codec_lives_in_the_model_section():
    cfg = load_config("tiny-synthetic", ["model.codec.method=msra"])
    assert cfg.model.codec.method == "msra" and cfg.model.codec.decoder == "dark"  # the method's default
    assert cfg.model.codec.input_size == (96, 128) and cfg.model.codec.heatmap_size == (24, 32)
    with pytest.raises(ConfigError, match="decoder 'dark_udp' does not read 'msra' targets"):
        load_config("tiny-synthetic", ["model.codec.method=msra", "model.codec.decoder=dark_udp"])
    with pytest.raises(ConfigError, match=r"config key 'data\.codec' moved: use model\.codec\.method"):
        load_config({"data": {"codec": "msra"}})
    with pytest.raises(ConfigError, match=r"config key 'test\.decode' moved: use model\.codec\.decoder"):
        load_config("tiny-synthetic", ["test.decode=dark"])
    with pytest.raises(ConfigError, match=r"codec\.input_size \(10, 10\) does not match"):
        load_config("tiny-synthetic", ["model.codec.input_size=[10, 10]"])


def test_readme_config_example_is_valid(tmp_path):
    """The custom-data YAML of the README loads as written and resolves ViTPose-S's published values."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("# my_union21.yaml", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "my_union21.yaml"
    path.write_text(block)
    cfg = load_config(path)
    assert _published(cfg) == PUBLISHED["s"]
    assert [d.name for d in cfg.data.datasets] == ["coco", "mpii"]
    assert cfg.data.datasets[1].mpii_gt == "mpii/annotations/mpii_gt_val.mat"
    assert cfg.model.codec.decoder == "dark_udp" and cfg.model.layout == "union21"


def test_dataset_limits_follow_the_data_defaults():
    from hpefast.data.images import DEFAULT_MAX_IMAGE_PIXELS
    from hpefast.engine.config import DatasetConfig

    d = DatasetConfig()
    assert d.max_image_pixels == DEFAULT_MAX_IMAGE_PIXELS and d.strict is True and d.mpii_gt is None
    with pytest.raises(ConfigError, match=r"data\.datasets\.0\.strict: expected true or false"):
        from_dict(TrainConfig, {"data": {"datasets": [{"strict": "no"}]}})
