"""Config loading, overrides, validation and round trip."""
import pytest
import yaml

from icd_mx.config import Config, load_config, parse_overrides, save_config, to_dict
from icd_mx.errors import InputError


def test_defaults_are_the_release_values():
    cfg = load_config()
    assert cfg.train.batch_size == 32 and cfg.train.epochs == 20
    assert cfg.train.lr == 1e-3 and cfg.train.lr_power == 0.9 and cfg.train.wd == 5e-4
    assert cfg.data.crop_size == 321 and cfg.data.infer_size == 513
    assert cfg.data.scales == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert cfg.model.grad_scale == 10.0 and cfg.model.td_threshold == 0.2
    assert cfg.superpixels.max_regions == 64
    assert cfg.out_dir == "runs/run"


def test_overrides_parse_yaml_values():
    assert parse_overrides(["train.gpus=[0,1]", "model.width=0.25", "name=x"]) == {
        "train": {"gpus": [0, 1]}, "model": {"width": 0.25}, "name": "x"}
    cfg = load_config(None, ["train.gpus=[0,1]", "train.lr=1", "model.bu_loss=abs"])
    assert cfg.train.gpus == [0, 1] and cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


def test_file_plus_overrides_and_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "a", "train": {"epochs": 3}}))
    cfg = load_config(str(path), ["train.epochs=5"])
    assert cfg.name == "a" and cfg.train.epochs == 5
    out = tmp_path / "run" / "config.yaml"
    save_config(cfg, str(out))
    again = load_config(str(out))
    assert to_dict(again) == to_dict(cfg)
    assert isinstance(again, Config)


@pytest.mark.parametrize("overrides, key", [
    (["train.nope=1"], "nope"),
    (["model.bu_loss=l2"], "model.bu_loss"),
    (["train.epochs=many"], "train.epochs"),
    (["train.gpus=0"], "train.gpus"),
    (["noequals"], "noequals"),
])
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(InputError) as e:
        load_config(None, overrides)
    assert key in str(e.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_config(str(tmp_path / "none.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1,\n")
    with pytest.raises(InputError, match="bad.yaml"):
        load_config(str(bad))


def test_layered_files(tmp_path):
    base, abl = tmp_path / "base.yaml", tmp_path / "abl.yaml"
    base.write_text("name: b\nmodel: {bu_loss: bu, width: 0.5}\n")
    abl.write_text("name: b_abs\nmodel: {bu_loss: abs}\n")
    cfg = load_config([str(base), str(abl)])
    assert (cfg.name, cfg.model.bu_loss, cfg.model.width) == ("b_abs", "abs", 0.5)


def test_shipped_configs_load():
    import glob
    import os
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
    base = os.path.join(root, "voc_vgg16_icd.yaml")
    for path in sorted(glob.glob(os.path.join(root, "**", "*.yaml"), recursive=True)):
        paths = [base, path] if "ablations" in path else [path]
        load_config(paths)
