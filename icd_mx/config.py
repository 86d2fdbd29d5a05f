"""Typed configuration: a YAML file plus ``section.key=value`` overrides.

Every stage takes one :class:`Config`. Defaults are the release's (docs/method.md);
a run folder keeps the resolved config (``config.yaml``) next to its outputs.

The field types are the one statement of what a key accepts: a ``typing.Literal`` lists
the allowed words (other modules read them with ``typing.get_args``), and every number
declares its interval with :func:`ranged`. An error names the file or the override that
set the bad key.

Usage::

    cfg = load_config("configs/voc_vgg16_icd.yaml", ["train.lr=0.01", "train.gpus=[0,1]"])
    save_config(cfg, "runs/x/config.yaml")
"""
import copy
import dataclasses
import math
import os
import typing
from dataclasses import dataclass, field
from typing import List, Literal

import yaml

from .errors import InputError

ScoreKind = Literal["cam", "icd_bu", "icd_bu_sp", "icd_td"]  # the exported score maps (docs/architecture.md)
SeedMode = Literal["raw", "crf", "sal", "cam_thr"]          # seed variants (docs/method.md, "Seeds")
Optimizer = Literal["sgd", "adam"]

POS = "(0, inf)"        # intervals for ranged(), written as in maths
NONNEG = "[0, inf)"
FRACTION = "[0, 1)"     # momenta, dropout, thresholds on scores normalised to [-1, 1]


def _interval(text):
    """``"[0, 1)"`` -> (lo, hi, lo_closed, hi_closed)."""
    lo, hi = (float(x) for x in text[1:-1].split(","))
    return lo, hi, text[0] == "[", text[-1] == "]"


def ranged(default, interval):
    """A numeric field whose value (each item, for a list) must lie in ``interval``
    (``"(0, inf)"``, ``"[0, 1)"``, ...); :func:`validate` checks it."""
    _interval(interval)  # a typo fails at import
    meta = {"range": interval}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _refusal(value, interval):
    """None if ``value`` lies in ``interval``, else why not (``"-1 is not > 0"``)."""
    lo, hi, lo_closed, hi_closed = _interval(interval)
    if (value > lo or (lo_closed and value == lo)) and (value < hi or (hi_closed and value == hi)):
        return None
    if math.isinf(hi):
        return f"{value:g} is not {'>=' if lo_closed else '>'} {lo:g}"
    return f"{value:g} is not in {interval}"


@dataclass
class DataConfig:
    root: str = "data/minivoc"           # dataset root in the VOC layout
    train_list: str = "train_aug"       # a name under <root>/ImageSets/Segmentation or a path
    val_list: str = "val"
    test_list: str = "test"
    superpixel_dir: str = "superpixels"  # relative to root unless absolute
    saliency_dir: str = ""              # empty: no saliency
    crop_size: int = ranged(321, POS)   # docs/method.md "Training augmentation"
    scales: List[float] = ranged([0.5, 0.75, 1.0, 1.25, 1.5], POS)
    infer_size: int = ranged(513, POS)  # docs/method.md "Inference"
    num_workers: int = ranged(2, NONNEG)  # 0: load in the main process
    on_bad_sample: Literal["error", "skip"] = "error"


@dataclass
class ModelConfig:
    mode: Literal["icd", "cam"] = "icd"  # cam: the CAM-only baseline
    width: float = ranged(1.0, POS)     # VGG16 channel multiplier (1/4, 1/8 for CPU configs)
    bu_feature: Literal["conv4", "conv5", "fc6", "concat"] = "conv5"  # Table 5
    bu_loss: Literal["bu", "abs", "sig"] = "bu"                       # Table 4
    td_structure: Literal["a", "b", "c", "d"] = "c"                   # Table 6
    bn_beta: Literal["learn", "zero"] = "learn"  # learn (release) | zero (paper's reading)
    grad_scale: float = ranged(10.0, POS)  # L_bu scale
    signflip_momentum: float = ranged(0.9, FRACTION)
    signflip_sync: Literal["global", "per_device"] = "global"  # one update from all devices | the release
    td_threshold: float = ranged(0.2, FRACTION)  # confidence mask of the TD target, on |normalised S'|
    td_warmup_epochs: float = ranged(2.0, NONNEG)
    max_superpixels: int = ranged(65, "[2, inf)")  # <= 64 merged superpixels + the padding id
    dropout: float = ranged(0.5, FRACTION)
    init: str = ""                      # params file: ours, the release's, or VGG16 "20M"
    scratch_dirac: float = ranged(0.0, NONNEG)  # no init file: backbone convs start as identity + this x He noise


@dataclass
class TrainConfig:
    gpus: List[int] = ranged([], NONNEG)  # empty: CPU
    kvstore: Literal["device", "local", "dist_sync"] = "device"
    batch_size: int = ranged(32, POS)   # global batch (docs/method.md "Optimisation")
    epochs: int = ranged(20, POS)
    lr: float = ranged(1e-3, POS)
    lr_power: float = ranged(0.9, NONNEG)
    momentum: float = ranged(0.9, FRACTION)
    wd: float = ranged(5e-4, NONNEG)
    seed: int = ranged(0, NONNEG)
    optimizer: Optimizer = "sgd"        # sgd (the release) | adam (only for from-scratch CPU runs)
    log_interval: int = ranged(10, POS)  # iterations
    max_iters_per_epoch: int = ranged(0, NONNEG)  # 0: the whole list (for smoke runs)
    keep_checkpoints: int = ranged(0, NONNEG)     # keep the newest N epoch checkpoints; 0: all
    # the training graphs with static_shape (docs/architecture.md, "Network"); on the CPU at
    # 321x321 batch 4 as fast as without (paired 1.01) and a smaller peak (2.2 GB, not 2.3 GB)
    static_shape: bool = True


@dataclass
class PretrainConfig(TrainConfig):
    """Backbone pre-training on generated patches (icd_mx.pretrain), the CPU demo's
    stand-in for ImageNet; the optimiser fields are TrainConfig's."""
    patches: int = ranged(3000, POS)    # canvases, rendered once (cached in the run folder), flipped/rotated
    patch_size: int = ranged(96, POS)
    classes: int = ranged(20, "[1, 20]")  # heads of the first N VOC classes
    batch_size: int = ranged(32, POS)
    epochs: int = ranged(12, POS)
    lr: float = ranged(1e-3, POS)
    optimizer: Optimizer = "adam"
    log_interval: int = ranged(20, POS)
    render_workers: int = ranged(2, NONNEG)
    static_shape: bool = False          # as train.static_shape, for the part classifier (off: as measured)


@dataclass
class SuperpixelConfig:
    sigma: float = ranged(0.8, NONNEG)  # docs/method.md "Superpixels"
    k: float = ranged(75.0, POS)
    min_size: int = ranged(75, NONNEG)
    max_regions: int = ranged(64, POS)
    adjacent_only: bool = False         # the paper's wording (Selective Search)
    feature_size: int = ranged(513, POS)
    feature_width: float = ranged(1.0, POS)
    feature_params: str = ""            # ImageNet VGG16 params (ours, release or 20M)
    features: Literal["vgg", "color"] = "vgg"  # the paper: ImageNet VGG16 conv5_3 | the CPU demo's stand-in
    workers: int = ranged(2, NONNEG)    # processes (FH + merge on the CPU; with gpus, shared round-robin)
    gpus: List[int] = ranged([], NONNEG)  # feature net devices; empty: the CPU
    batch_size: int = ranged(4, POS)    # images per feature-net batch (vgg)


@dataclass
class InferConfig:
    checkpoint: str = ""                # default: the run's last checkpoint
    kinds: List[ScoreKind] = field(default_factory=lambda: list(typing.get_args(ScoreKind)))
    split: str = "train_aug"
    batch_size: int = ranged(1, POS)
    scales: List[float] = ranged([1.0], "(0, 4]")  # canvas scales, averaged (the release: [1.0];
    #                                     IRN/SEAM-style CAMs: e.g. [0.5, 1.0, 1.5, 2.0])
    flip: bool = False                  # also the mirrored canvas, averaged (docs/method.md, "Inference")


@dataclass
class SeedConfig:
    score: ScoreKind = "icd_td"
    crf: bool = True
    saliency: bool = False
    cam_threshold: float = ranged(0.2, FRACTION)  # CAM-baseline seeds, on CAMs normalised to [0, 1]
    split: str = "train_aug"
    workers: int = ranged(2, NONNEG)
    variants: List[str] = field(default_factory=list)  # [<kind>:]<mode> (ScoreKind, SeedMode); empty: from crf/saliency
    crf_confidence: float = ranged(0.5, "(0, 1]")  # seed-label probability of the CRF unary (release)
    crf_rest: float = ranged(0.0, FRACTION)  # mass on each other label; 0: (1 - crf_confidence) / 21, the
    #                                     release's (docs/method.md, "Seeds")


@dataclass
class SegConfig:
    backbone: Literal["vgg16", "resnet101"] = "vgg16"
    seeds: str = ""                     # folder of seed PNGs
    init: str = ""
    crop_size: int = ranged(321, POS)
    scales: List[float] = ranged([0.5, 0.75, 1.0, 1.25, 1.5], POS)
    batch_size: int = ranged(16, POS)
    epochs: int = ranged(20, POS)
    lr: float = ranged(5e-4, POS)
    test_scales: List[float] = ranged([0.75, 1.0, 1.25], POS)
    flip: bool = True
    crf: bool = False
    crf_params: List[float] = ranged([3.0, 3.0, 121.0, 5.0, 4.0], POS)  # DeepLab-LargeFOV:
    #                                     Gaussian sxy, compat; bilateral sxy, srgb, compat (icd_mx.stages.test_seg)
    width: float = ranged(1.0, POS)     # channel multiplier (1/8 for CPU tests and the mini-VOC)
    resnet_layers: List[int] = ranged([3, 4, 23, 3], POS)  # ResNet-101
    frozen_bn: bool = True              # ResNet BN on moving statistics (DeepLab's practice)
    checkpoint: str = ""                # test_seg: params file; default: the run's newest checkpoint
    split: str = "val"                  # test_seg: list to predict (val is scored, test -> submission)


@dataclass
class Config:
    name: str = "run"
    run_dir: str = ""                   # default: runs/<name>
    threads: int = ranged(0, NONNEG)    # OMP threads; 0: all cores
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    superpixels: SuperpixelConfig = field(default_factory=SuperpixelConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    seeds: SeedConfig = field(default_factory=SeedConfig)
    seg: SegConfig = field(default_factory=SegConfig)

    @property
    def out_dir(self):
        """The run folder."""
        return self.run_dir or os.path.join("runs", self.name)


def _coerce(value, tp, where):
    origin = typing.get_origin(tp)
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise InputError(where, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, where) for v in value]
    if origin is Literal:
        allowed = typing.get_args(tp)
        if isinstance(value, str) and value in allowed:
            return value
        raise InputError(where, f"{value!r} is not one of {', '.join(allowed)}")
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(where, f"expected true/false, got {value!r}")
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if tp is str and value is None:
        return ""
    raise InputError(where, f"expected {tp.__name__}, got {value!r}")


def from_dict(cls, data, where="config"):
    """Build dataclass ``cls`` from a dict, rejecting unknown keys, bad types and words
    outside a field's ``Literal``; the error's path is the dotted key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(where, f"expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(_key(where, unknown[0]), f"unknown key {unknown[0]!r}; known in {where}: "
                                                  f"{', '.join(sorted(names))}")
    kwargs = {}
    for key, value in data.items():
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, _key(where, key))
        else:
            kwargs[key] = _coerce(value, tp, _key(where, key))
    return cls(**kwargs)


def _key(where, name):
    return f"{where}.{name}" if where != "config" else name


def _ranged_values(obj, where="config"):
    """(dotted key, value, interval) of every field of ``obj`` and its sections that declares a range."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _ranged_values(value, _key(where, f.name))
        elif "range" in f.metadata:
            yield _key(where, f.name), value, f.metadata["range"]


def validate(cfg):
    """Check every declared range and the rules between keys; raise InputError naming the key."""
    for key, value, interval in _ranged_values(cfg):
        items = value if isinstance(value, list) else [value]
        for v in items:
            why = _refusal(v, interval)
            if why:
                raise InputError(key, f"{why} (in {value})" if isinstance(value, list) else why)
    if not cfg.infer.scales:
        raise InputError("infer.scales", "an empty list: give at least one scale (the release: [1.0])")
    if cfg.superpixels.max_regions >= cfg.model.max_superpixels:
        raise InputError("superpixels.max_regions", f"{cfg.superpixels.max_regions} merged superpixels need "
                         f"model.max_superpixels >= {cfg.superpixels.max_regions + 1} (one more id for padding)")
    return cfg


def to_dict(cfg):
    """The config as plain nested dicts (YAML-ready)."""
    return dataclasses.asdict(cfg)


def parse_overrides(overrides):
    """``["train.lr=0.01", "model.width=0.25"]`` -> nested dict."""
    out = {}
    for item in overrides or []:
        if "=" not in item:
            raise InputError(item, "override must look like section.key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(path=None, overrides=None):
    """Load YAML config(s) and apply overrides.

    ``path`` is None (the defaults), one file, or a list of files merged in order
    (e.g. the VOC config, then an ablation file that changes one option). A bad key
    or value is an InputError naming the last file or override that set it:
    ``configs/x.yaml: train.lr: -1 is not > 0``, ``train.lr=-1 (command-line override): ...``.
    """
    paths = [] if not path else ([path] if isinstance(path, str) else list(path))
    sources = []  # (label, names the key?, data), in the order they apply
    for p in paths:
        if not os.path.isfile(p):
            raise InputError(p, "config file not found")
        try:
            with open(p) as f:
                data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise InputError(p, f"not valid YAML ({str(e).splitlines()[0]})")
        if not isinstance(data, dict):
            raise InputError(p, "a config file must be a mapping of sections")
        sources.append((p, False, data))
    _check_override_keys(overrides)
    sources += [(f"{o} (command-line override)", True, parse_overrides([o])) for o in overrides or []]
    merged = {}
    for _, _, data in sources:
        _merge(merged, data)
    try:
        return validate(from_dict(Config, merged))
    except InputError as e:
        for label, names_key, data in reversed(sources):
            if _holds(data, e.path):
                raise InputError(label, e.problem if names_key else f"{e.path}: {e.problem}") from None
        raise


def _holds(data, key):
    """Whether nested dict ``data`` sets the dotted ``key``."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _check_override_keys(overrides):
    """An override whose key is not a config key is an InputError naming the override."""
    for item in overrides or []:
        key = item.split("=", 1)[0].strip()
        if "=" not in item:
            continue  # parse_overrides names it
        cls, parts = Config, key.split(".")
        for depth, part in enumerate(parts):
            names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
            if part not in names:
                where = ".".join(parts[:depth]) or "config"
                known = f"; known in {where}: {', '.join(sorted(names))}" if names else \
                    f" ({where} is a value, not a section)"
                raise InputError(f"{item} (command-line override)", f"unknown key {part!r}{known}")
            cls = typing.get_type_hints(cls)[part]


def save_config(cfg, path):
    """Write the resolved config as YAML (atomically)."""
    from .io import save_text

    save_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
