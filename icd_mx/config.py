"""Typed configuration: a YAML file plus ``section.key=value`` overrides.

Every stage takes one :class:`Config`. Defaults are the release's (icd-reference.md);
a run folder keeps the resolved config (``config.yaml``) next to its outputs.

Usage::

    cfg = load_config("configs/voc_vgg16_icd.yaml", ["train.lr=0.01", "train.gpus=[0,1]"])
    save_config(cfg, "runs/x/config.yaml")
"""
import dataclasses
import os
import typing
from dataclasses import dataclass, field

import yaml

from .errors import InputError


@dataclass
class DataConfig:
    root: str = "data/minivoc"           # dataset root in the VOC layout
    train_list: str = "train_aug"       # a name under <root>/ImageSets/Segmentation or a path
    val_list: str = "val"
    test_list: str = "test"
    superpixel_dir: str = "superpixels"  # relative to root unless absolute
    saliency_dir: str = ""              # empty: no saliency
    crop_size: int = 321                # icd-reference.md "Training augmentation"
    scales: typing.List[float] = field(default_factory=lambda: [0.5, 0.75, 1.0, 1.25, 1.5])
    infer_size: int = 513               # icd-reference.md "Inference"
    num_workers: int = 2
    on_bad_sample: str = "error"        # error | skip


@dataclass
class ModelConfig:
    mode: str = "icd"                   # icd | cam (the CAM-only baseline)
    width: float = 1.0                  # VGG16 channel multiplier (1/4, 1/8 for CPU configs)
    bu_feature: str = "conv5"           # conv4 | conv5 | fc6 | concat (Table 5)
    bu_loss: str = "bu"                 # bu | abs | sig (Table 4)
    td_structure: str = "c"             # a | b | c | d (Table 6)
    bn_beta: str = "learn"              # learn (release) | zero (paper's reading)
    grad_scale: float = 10.0            # L_bu scale
    signflip_momentum: float = 0.9
    signflip_sync: str = "global"       # global (one update from all devices) | per_device (the release)
    td_threshold: float = 0.2           # confidence mask of the TD target
    td_warmup_epochs: float = 2.0
    max_superpixels: int = 65           # <= 64 merged superpixels + the padding id
    dropout: float = 0.5
    init: str = ""                      # params file: ours, the release's, or VGG16 "20M"
    scratch_dirac: float = 0.0          # no init file: backbone convs start as identity + this x He noise


@dataclass
class TrainConfig:
    gpus: typing.List[int] = field(default_factory=list)  # empty: CPU
    kvstore: str = "device"             # device | local | dist_sync
    batch_size: int = 32                # global batch (icd-reference.md "Optimisation")
    epochs: int = 20
    lr: float = 1e-3
    lr_power: float = 0.9
    momentum: float = 0.9
    wd: float = 5e-4
    seed: int = 0
    optimizer: str = "sgd"              # sgd (the release) | adam (only for from-scratch CPU runs)
    log_interval: int = 10              # iterations
    max_iters_per_epoch: int = 0        # 0: the whole list (for smoke runs)
    keep_checkpoints: int = 0           # keep the newest N epoch checkpoints; 0: all


@dataclass
class PretrainConfig(TrainConfig):
    """Backbone pre-training on generated patches (icd_mx.pretrain), the CPU demo's
    stand-in for ImageNet; the optimiser fields are TrainConfig's."""
    patches: int = 3000                 # canvases, rendered once (cached in the run folder), flipped/rotated
    patch_size: int = 96
    classes: int = 20                   # heads of the first N VOC classes
    batch_size: int = 32
    epochs: int = 12
    lr: float = 1e-3
    optimizer: str = "adam"
    log_interval: int = 20
    render_workers: int = 2


@dataclass
class SuperpixelConfig:
    sigma: float = 0.8                  # icd-reference.md "Superpixels"
    k: float = 75.0
    min_size: int = 75
    max_regions: int = 64
    adjacent_only: bool = False         # the paper's wording (Selective Search)
    feature_size: int = 513
    feature_width: float = 1.0
    feature_params: str = ""            # ImageNet VGG16 params (ours, release or 20M)
    features: str = "vgg"               # vgg (the paper: ImageNet VGG16 conv5_3) | color (CPU demo stand-in)
    workers: int = 2                    # processes (FH + merge on the CPU; with gpus, shared round-robin)
    gpus: typing.List[int] = field(default_factory=list)  # feature net devices; empty: the CPU
    batch_size: int = 4                 # images per feature-net batch (vgg)


@dataclass
class InferConfig:
    checkpoint: str = ""                # default: the run's last checkpoint
    kinds: typing.List[str] = field(default_factory=lambda: ["cam", "icd_bu", "icd_bu_sp", "icd_td"])
    split: str = "train_aug"
    batch_size: int = 1
    scales: typing.List[float] = field(default_factory=lambda: [1.0])  # canvas scales, averaged (the
    #                                     release: [1.0]; IRN/SEAM-style CAMs: e.g. [0.5, 1.0, 1.5, 2.0])
    flip: bool = False                  # also the mirrored canvas, averaged (docs/method.md, "Inference")


@dataclass
class SeedConfig:
    score: str = "icd_td"               # cam | icd_bu | icd_bu_sp | icd_td
    crf: bool = True
    saliency: bool = False
    cam_threshold: float = 0.2          # CAM-baseline seeds
    split: str = "train_aug"
    workers: int = 2
    variants: typing.List[str] = field(default_factory=list)  # [<kind>:]raw|crf|sal|cam_thr; empty: from crf/saliency
    crf_confidence: float = 0.5         # seed-label probability of the CRF unary (release)
    crf_rest: float = 0.0               # mass on each other label; 0: (1 - crf_confidence) / 21, the
    #                                     release's (docs/method.md, "Seeds")


@dataclass
class SegConfig:
    backbone: str = "vgg16"             # vgg16 | resnet101
    seeds: str = ""                     # folder of seed PNGs
    init: str = ""
    crop_size: int = 321
    scales: typing.List[float] = field(default_factory=lambda: [0.5, 0.75, 1.0, 1.25, 1.5])
    batch_size: int = 16
    epochs: int = 20
    lr: float = 5e-4
    test_scales: typing.List[float] = field(default_factory=lambda: [0.75, 1.0, 1.25])
    flip: bool = True
    crf: bool = False
    crf_params: typing.List[float] = field(default_factory=lambda: [3.0, 3.0, 121.0, 5.0, 4.0])  # DeepLab-LargeFOV:
    #                                     Gaussian sxy, compat; bilateral sxy, srgb, compat (icd_mx.seg.predict)
    width: float = 1.0                  # channel multiplier (1/8 for CPU tests and the mini-VOC)
    resnet_layers: typing.List[int] = field(default_factory=lambda: [3, 4, 23, 3])  # ResNet-101
    frozen_bn: bool = True              # ResNet BN on moving statistics (DeepLab's practice)
    checkpoint: str = ""                # test_seg: params file; default: the run's newest checkpoint
    split: str = "val"                  # test_seg: list to predict (val is scored, test -> submission)


@dataclass
class Config:
    name: str = "run"
    run_dir: str = ""                   # default: runs/<name>
    threads: int = 0                    # OMP threads; 0: all cores
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


CHOICES = {
    "model.mode": ("icd", "cam"),
    "model.bu_feature": ("conv4", "conv5", "fc6", "concat"),
    "model.bu_loss": ("bu", "abs", "sig"),
    "model.td_structure": ("a", "b", "c", "d"),
    "model.bn_beta": ("learn", "zero"),
    "model.signflip_sync": ("global", "per_device"),
    "train.kvstore": ("device", "local", "dist_sync"),
    "train.optimizer": ("sgd", "adam"),
    "pretrain.optimizer": ("sgd", "adam"),
    "data.on_bad_sample": ("error", "skip"),
    "seeds.score": ("cam", "icd_bu", "icd_bu_sp", "icd_td"),
    "superpixels.features": ("vgg", "color"),
    "seg.backbone": ("vgg16", "resnet101"),
}


def _coerce(value, tp, where):
    origin = typing.get_origin(tp)
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise InputError(where, f"expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, where) for v in value]
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
    """Build dataclass ``cls`` from a dict, rejecting unknown keys and bad types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(where, f"expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(where, f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {}
    for key, value in data.items():
        tp = hints[key]
        sub = f"{where}.{key}" if where != "config" else key
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value, sub)
        else:
            kwargs[key] = _coerce(value, tp, sub)
    return cls(**kwargs)


def validate(cfg):
    """Check enumerated options; raise InputError naming the key."""
    for key, allowed in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value not in allowed:
            raise InputError(key, f"{value!r} is not one of {', '.join(allowed)}")
    if cfg.data.crop_size <= 0 or cfg.train.batch_size <= 0 or cfg.train.epochs <= 0:
        raise InputError("config", "crop_size, batch_size and epochs must be positive")
    if not cfg.infer.scales or any(not 0 < float(x) <= 4 for x in cfg.infer.scales):
        raise InputError("infer.scales", f"{cfg.infer.scales}: a list of scales in (0, 4]")
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
            base[key] = value
    return base


def load_config(path=None, overrides=None):
    """Load YAML config(s) and apply overrides.

    ``path`` is None (the defaults), one file, or a list of files merged in order
    (e.g. the VOC config, then an ablation file that changes one option).
    """
    paths = [] if not path else ([path] if isinstance(path, str) else list(path))
    data = {}
    for p in paths:
        if not os.path.isfile(p):
            raise InputError(p, "config file not found")
        try:
            with open(p) as f:
                data = _merge(data, yaml.safe_load(f) or {})
        except yaml.YAMLError as e:
            raise InputError(p, f"not valid YAML ({str(e).splitlines()[0]})")
        except AttributeError:
            raise InputError(p, "a config file must be a mapping of sections")
    _check_override_keys(overrides)
    data = _merge(data, parse_overrides(overrides))
    where = paths[-1] if paths else "config"
    try:
        return validate(from_dict(Config, data, where=where))
    except InputError as e:  # a bad override value is named as typed, not as the file's
        key = e.path[len(where) + 1:] if e.path.startswith(where + ".") else e.path
        item = next((o for o in reversed(overrides or []) if o.split("=", 1)[0].strip() == key), None)
        if item is None:
            raise
        raise InputError(f"{item} (command-line override)", e.problem) from None


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
