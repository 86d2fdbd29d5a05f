"""Checkpoint interchange with the authors' release (MXNet Module ``.params`` files).

Three formats are read by :func:`load_params`:

- ours: a Gluon ``save_parameters`` file (structural names, e.g. ``backbone.conv1_1.weight``);
- a release snapshot: ``arg:NAME`` / ``aux:NAME`` keys with the release's names
  (``conv1_1_weight`` ... ``fc8_bias``, ``feat_bn_{gamma,beta}``, aux
  ``feat_bn_moving_{mean,var}``, ``icd_bu_weight``, aux ``icd_accum_resign_moving_mean``,
  ``fc6_ft/fc7_ft_{weight,bias}``, ``conv_ft_weight``);
- the "20M" ImageNet init (``arg:conv1_1_weight`` ... ``arg:fc7_bias`` only): the
  other layers keep their initialisation and fc6_ft/fc7_ft become copies of fc6/fc7.

Missing, extra or mis-shaped parameters raise :class:`~icd_mx.errors.InputError`
naming the file; nothing falls back silently to another init.
"""
import warnings

import mxnet as mx

from ..errors import InputError
from ..io import atomic_path, load_param_file
from ..nn.vgg import PIXEL_MEAN, conv_names

INIT_NAMES = [f"{n}_{s}" for n in conv_names() + ["fc6", "fc7"] for s in ("weight", "bias")]
_AUX_SUFFIXES = ("_moving_mean", "_moving_var")
SIGNFLIP_NAME = "icd_accum_resign_moving_mean"


def release_names(net):
    """``{release name: (Parameter, "arg" | "aux")}`` for every parameter of ``net``."""
    out = {}
    for name, p in net.collect_params().items():
        short = name[len(net.prefix):] if name.startswith(net.prefix) else name
        short = short.replace("_running_mean", "_moving_mean").replace("_running_var", "_moving_var")
        kind = "aux" if short.endswith(_AUX_SUFFIXES) or short == SIGNFLIP_NAME else "arg"
        out[short] = (p, kind)
    return out


def _short_list(names, limit=8):
    names = sorted(names)
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check(path, expected, found, allow_missing, ignore_extra):
    """Compare ``{name: shape}`` dicts; raise one InputError listing every problem."""
    missing = set(expected) - set(found)
    extra = set(found) - set(expected)
    bad = [f"{k} file {tuple(found[k])} vs net {tuple(expected[k])}" for k in sorted(set(expected) & set(found))
           if tuple(found[k]) != tuple(expected[k])]
    problems = []
    if missing and not allow_missing:
        problems.append(f"missing {len(missing)}: {_short_list(missing)}")
    if extra and not ignore_extra:
        problems.append(f"extra {len(extra)}: {_short_list(extra)}")
    if bad:
        problems.append(f"mis-shaped {len(bad)}: {'; '.join(bad[:8])}")
    if problems:
        raise InputError(path, "parameters do not match the network: " + " | ".join(problems))
    return sorted(missing), sorted(extra)


def detect_format(arrays):
    """``"ours"``, ``"release"`` (a trained snapshot) or ``"init"`` (the 20M ImageNet init)."""
    if arrays and all(k.startswith(("arg:", "aux:")) for k in arrays):
        names = {k.split(":", 1)[1] for k in arrays}
        return "init" if names <= set(INIT_NAMES) else "release"
    return "ours"


def _ensure_initialized(net, ctx):
    params = net.collect_params().values()
    if any(p._data is None and p._deferred_init == () for p in params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.initialize(ctx=ctx)


def load_params(net, path, ctx=None, allow_missing=False, ignore_extra=False):
    """Load ``path`` (ours, a release snapshot or the 20M init) into ``net``.

    Parameters
    ----------
    net : icd_mx.nn.ICDNet (or any block named like the release)
    path : str
    ctx : Context or list, used to initialise ``net`` if it is not initialised yet
    allow_missing, ignore_extra : bool
        Tolerate parameters of the net absent from the file / names of the file
        the net lacks (e.g. a CAM-only net reading an ICD snapshot). Mis-shaped
        parameters always fail.

    Returns
    -------
    dict with ``format``, ``loaded`` (count), ``missing`` and ``extra`` (names).
    """
    arrays = load_param_file(path)
    if not isinstance(arrays, dict) or not arrays:
        raise InputError(path, "not a named parameter file")
    return set_params(net, arrays, path, ctx, allow_missing, ignore_extra)


def set_params(net, arrays, source="parameters", ctx=None, allow_missing=False, ignore_extra=False):
    """:func:`load_params` on a dict ``{key: NDArray or ndarray}`` in any of the three formats;
    ``source`` names it in errors."""
    arrays = {k: v if isinstance(v, mx.nd.NDArray) else mx.nd.array(v, dtype=v.dtype) for k, v in arrays.items()}
    path = source
    _ensure_initialized(net, ctx)
    fmt = detect_format(arrays)
    if fmt == "ours":
        targets = net._collect_params_with_prefix()
        found = dict(arrays)
    else:
        targets = {name: p for name, (p, _) in release_names(net).items()}
        if fmt == "init":
            targets = {k: v for k, v in targets.items() if k in INIT_NAMES}
        found = {k.split(":", 1)[1]: v for k, v in arrays.items()}
    missing, extra = _check(path, {k: p.shape for k, p in targets.items()}, {k: v.shape for k, v in found.items()},
                            allow_missing, ignore_extra)
    loaded = 0
    for name, p in targets.items():
        if name in found:
            p.set_data(found[name].astype(p.dtype))
            loaded += 1
    if fmt == "init" and hasattr(net, "copy_ft_from_cam"):
        net.copy_ft_from_cam()  # docs/method.md, "Top-down": fc6_ft/fc7_ft start as copies
    if hasattr(net, "zero_frozen_beta"):
        net.zero_frozen_beta()  # model.bn_beta=zero: a file's beta must not reach the frozen BN
    return {"format": fmt, "loaded": loaded, "missing": missing, "extra": extra}


def export_release(net, path):
    """Write ``net`` in the release's format (``arg:``/``aux:`` keys, release names), atomically.

    Copies on several devices are averaged, as Gluon's ``save_parameters`` does.
    """
    out = {}
    for name, (p, kind) in release_names(net).items():
        out[f"{kind}:{name}"] = p._reduce()
    with atomic_path(path) as tmp:
        mx.nd.save(tmp, out)
    return sorted(out)


def export_init(net, path):
    """Write the backbone and fc6/fc7 of ``net`` in the "20M" init format (``arg:conv1_1_weight``
    ... ``arg:fc7_bias``), atomically; ``load_params`` reads it as DeepLab's ImageNet init."""
    names = release_names(net)
    missing = [n for n in INIT_NAMES if n not in names]
    if missing:
        raise ValueError(f"the network lacks {', '.join(missing[:4])}")
    out = {f"arg:{n}": names[n][0]._reduce() for n in INIT_NAMES}
    with atomic_path(path) as tmp:
        mx.nd.save(tmp, out)
    return sorted(out)


def load_backbone(path, width=1.0, ctx=None, mean=PIXEL_MEAN):
    """The dilated VGG16 of any parameter file ``load_params`` reads (the 20M init, a release
    snapshot, one of our ICD/CAM or pre-training checkpoints), for feature extraction.

    ``mean`` is the scalar the backbone subtracts from its input (0 for the superpixel
    feature net, as the release; see :class:`~icd_mx.nn.vgg.DilatedVGG16`).

    Layers beyond conv5_3 in the file are ignored; a file without every backbone
    convolution is an InputError naming it.
    """
    from ..config import ModelConfig
    from ..nn.icd import ICDNet

    net = ICDNet(ModelConfig(mode="cam", width=width, dropout=0.0), prefix="")
    report = load_params(net, path, ctx, allow_missing=True, ignore_extra=True)
    lacking = [n for n in INIT_NAMES if n.startswith("conv") and n in report["missing"]]
    if report["format"] == "ours":
        lacking = [n for n in report["missing"] if n.startswith("backbone.")]
    if lacking:
        raise InputError(path, f"no VGG16 backbone in this file (missing {_short_list(lacking)})")
    net.backbone.mean = float(mean)
    return net.backbone
