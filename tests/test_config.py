"""Config loading, overrides, validation and round trip."""
import dataclasses
import glob
import os
import typing

import pytest
import yaml

from icd_mx import seeds
from icd_mx.config import (Config, ScoreKind, SeedMode, load_config, parse_overrides, save_config,
                           to_dict, validate)
from icd_mx.errors import InputError

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")


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


SHIPPED = sorted(os.path.relpath(p, CONFIGS)
                 for p in glob.glob(os.path.join(CONFIGS, "**", "*.yaml"), recursive=True))


def test_every_config_is_found():
    assert "voc_vgg16_icd.yaml" in SHIPPED and len([p for p in SHIPPED if p.startswith("ablations")]) == 8


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load(name):
    path = os.path.join(CONFIGS, name)
    paths = [os.path.join(CONFIGS, "voc_vgg16_icd.yaml"), path] if name.startswith("ablations") else [path]
    cfg = load_config(paths)
    with open(path) as f:
        assert cfg.name == yaml.safe_load(f)["name"]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _refusal(paths=None, overrides=None):
    with pytest.raises(InputError) as e:
        load_config(paths, overrides)
    return str(e.value)


def test_a_word_outside_the_literal_names_the_file_and_lists_the_allowed(tmp_path):
    path = _write(tmp_path, "c.yaml", "model: {bu_loss: l2}\n")
    assert _refusal(path) == f"{path}: model.bu_loss: 'l2' is not one of bu, abs, sig"
    path = _write(tmp_path, "k.yaml", "infer: {kinds: [cam, icd_xx]}\n")
    assert _refusal(path) == f"{path}: infer.kinds: 'icd_xx' is not one of cam, icd_bu, icd_bu_sp, icd_td"


def test_a_word_outside_the_literal_names_the_override(tmp_path):
    assert _refusal(None, ["model.td_structure=e"]) == \
        "model.td_structure=e (command-line override): 'e' is not one of a, b, c, d"
    path = _write(tmp_path, "c.yaml", "train: {optimizer: sgd}\n")
    assert _refusal(path, ["pretrain.optimizer=adamw"]) == \
        "pretrain.optimizer=adamw (command-line override): 'adamw' is not one of sgd, adam"


def test_seeds_and_infer_take_their_words_from_the_config_types():
    from icd_mx.stages import infer  # imports MXNet

    assert seeds.KINDS == infer.ICD_KINDS == typing.get_args(ScoreKind)
    assert seeds.MODES == typing.get_args(SeedMode)
    with pytest.raises(InputError, match="cam_thr"):
        seeds.parse_variant("icd_td:blur", "icd_td")


@pytest.mark.parametrize("override, why", [
    ("seg.batch_size=0", "0 is not > 0"),
    ("train.lr=-1", "-1 is not > 0"),
    ("train.momentum=1", "1 is not in [0, 1)"),
    ("train.wd=-0.0005", "-0.0005 is not >= 0"),
    ("train.gpus=[0,-1]", "-1 is not >= 0 (in [0, -1])"),
    ("pretrain.batch_size=0", "0 is not > 0"),
    ("pretrain.classes=21", "21 is not in [1, 20]"),
    ("data.crop_size=0", "0 is not > 0"),
    ("data.scales=[0.5,0]", "0 is not > 0 (in [0.5, 0.0])"),
    ("data.num_workers=-1", "-1 is not >= 0"),
    ("model.dropout=1", "1 is not in [0, 1)"),
    ("model.width=0", "0 is not > 0"),
    ("model.td_threshold=-0.1", "-0.1 is not in [0, 1)"),
    ("superpixels.workers=-2", "-2 is not >= 0"),
    ("superpixels.gpus=[-1]", "-1 is not >= 0 (in [-1])"),
    ("infer.batch_size=0", "0 is not > 0"),
    ("seeds.cam_threshold=1.5", "1.5 is not in [0, 1)"),
    ("seeds.crf_confidence=0", "0 is not in (0, 1]"),
    ("seg.epochs=0", "0 is not > 0"),
    ("seg.crf_params=[3,3,121,-5,4]", "-5 is not > 0 (in [3.0, 3.0, 121.0, -5.0, 4.0])"),
    ("threads=-1", "-1 is not >= 0"),
])
def test_out_of_range_numbers_name_the_override(override, why):
    assert _refusal(None, [override]) == f"{override} (command-line override): {why}"


def test_out_of_range_number_in_a_file_names_the_file_and_key(tmp_path):
    path = _write(tmp_path, "x.yaml", "train: {lr: -1}\n")
    assert _refusal(path) == f"{path}: train.lr: -1 is not > 0"
    path = _write(tmp_path, "s.yaml", "seg: {batch_size: 0}\n")
    assert _refusal(path) == f"{path}: seg.batch_size: 0 is not > 0"


def test_every_number_declares_its_range():
    def numeric(tp):
        return tp in (int, float) or typing.get_args(tp) in ((int,), (float,))

    for section in [Config] + [f.type for f in dataclasses.fields(Config) if dataclasses.is_dataclass(f.type)]:
        hints = typing.get_type_hints(section)
        for f in dataclasses.fields(section):
            if numeric(hints[f.name]):
                assert "range" in f.metadata, f"{section.__name__}.{f.name} declares no range"
    validate(Config())  # the defaults lie in their ranges


@pytest.mark.parametrize("bad_first", [True, False])
def test_layered_files_name_the_file_that_holds_the_bad_key(tmp_path, bad_first):
    bad = "train: {batch_size: 0}\n"
    first = _write(tmp_path, "first.yaml", bad if bad_first else "name: a\n")
    second = _write(tmp_path, "second.yaml", "name: b\n" if bad_first else bad)
    named = first if bad_first else second
    assert _refusal([first, second]) == f"{named}: train.batch_size: 0 is not > 0"


def test_layered_files_unknown_key_and_literal_name_their_file(tmp_path):
    base = _write(tmp_path, "base.yaml", "model: {bu_loss: bu}\n")
    abl = _write(tmp_path, "abl.yaml", "model: {bu_los: abs}\n")
    assert _refusal([base, abl]).startswith(f"{abl}: model.bu_los: unknown key 'bu_los'; known in model: ")
    abl = _write(tmp_path, "abl2.yaml", "model: {td_structure: e}\n")
    assert _refusal([abl, base]).startswith(f"{abl}: model.td_structure: 'e' is not one of")


def test_the_last_setter_is_named_and_a_later_fix_wins(tmp_path):
    bad = _write(tmp_path, "bad.yaml", "train: {lr: -1, epochs: 3}\n")
    worse = _write(tmp_path, "worse.yaml", "train: {lr: -2}\n")
    assert _refusal([bad, worse]) == f"{worse}: train.lr: -2 is not > 0"
    assert _refusal([bad], ["train.lr=-3"]) == "train.lr=-3 (command-line override): -3 is not > 0"
    assert _refusal([bad], ["train.epochs=4"]) == f"{bad}: train.lr: -1 is not > 0"
    fixed = _write(tmp_path, "fixed.yaml", "train: {lr: 0.01}\n")
    assert load_config([bad, fixed]).train.lr == 0.01
    assert load_config([bad], ["train.lr=0.02"]).train.lr == 0.02


def test_a_rule_between_keys_names_the_file(tmp_path):
    path = _write(tmp_path, "sp.yaml", "superpixels: {max_regions: 80}\n")
    assert _refusal(path).startswith(f"{path}: superpixels.max_regions: 80 merged superpixels need ")
