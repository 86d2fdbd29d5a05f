"""Initial weights of DeepLab-LargeFOV from other projects' files (paper Tables 7-8):
DeepLab's VGG16 "20M" params (release/Module names) and gluoncv's ImageNet ``resnet101_v1``.

Read from a path, never downloaded. Each loader maps the file's names onto the network of
:mod:`icd_mx.nn.deeplab` and reports what it loaded, what it missed and what it left.
"""
import re

import mxnet as mx

from ..errors import InputError
from ..io import load_param_file

_GLUONCV_BODY = {"0": "conv1", "1": "bn1", "3": "conv2", "4": "bn2", "6": "conv3", "7": "bn3"}


def gluoncv_resnet_name(key):
    """Map a gluoncv ``resnet*_v1`` parameter key to our :class:`DilatedResNet` structural key.

    ``features.0.weight`` -> ``stem_conv.weight``; ``features.5.2.body.3.weight`` ->
    ``layer2.2.conv2.weight``; ``...downsample.1.gamma`` -> ``...down_bn.gamma``.
    Returns ``None`` for the ImageNet classifier (``output.*``) and unknown keys.
    """
    m = re.fullmatch(r"features\.([01])\.(\w+)", key)
    if m:
        return ("stem_conv." if m.group(1) == "0" else "stem_bn.") + m.group(2)
    m = re.fullmatch(r"features\.([4-7])\.(\d+)\.(body|downsample)\.(\d)\.(\w+)", key)
    if not m:
        return None
    stage, block, part, idx, leaf = m.groups()
    if part == "body":
        child = _GLUONCV_BODY.get(idx)
    else:
        child = {"0": "down_conv", "1": "down_bn"}.get(idx)
    if child is None:
        return None
    return f"layer{int(stage) - 3}.{block}.{child}.{leaf}"


def load_resnet_imagenet(backbone, path, ctx=None):
    """Load gluoncv's ``resnet101_v1`` ImageNet params (a ``.params`` file) into a backbone.

    The file is the one gluoncv caches as ``~/.mxnet/models/resnet101_v1-<hash>.params``;
    it is read from ``path`` and never downloaded.

    Parameters
    ----------
    backbone : DilatedResNet
        Network to fill (initialised or not; shapes are known from construction).
    path : str
        The params file.
    ctx : Context or list of Context, optional
        Where to place the parameters.

    Returns
    -------
    dict
        ``{"loaded": n, "missing": [our keys], "extra": [file keys]}``.

    Raises
    ------
    InputError
        Missing file, or a parameter whose shape differs from the file's.
    """
    loaded = load_param_file(path, "ResNet ImageNet params file (gluoncv resnet101_v1 .params)")
    ours = backbone._collect_params_with_prefix()
    used, extra, by_name = set(), [], {}
    for key, value in loaded.items():
        key = key.split(":", 1)[-1]
        name = gluoncv_resnet_name(key)
        if name is None or name not in ours:
            if not key.startswith("output."):
                extra.append(key)
            continue
        param = ours[name]
        if param.shape and any(param.shape) and tuple(param.shape) != tuple(value.shape):
            raise InputError(path, f"{key}: shape {value.shape} does not fit {name} {param.shape}")
        by_name[param.name] = value
        used.add(name)
    backbone.collect_params().load_dict(by_name, ctx=ctx if ctx is not None else mx.cpu(),
                                        allow_missing=True, ignore_extra=False)
    missing = sorted(k for k in ours if k not in used and k not in ("mean", "std"))
    return {"loaded": len(used), "missing": missing, "extra": extra}


def load_vgg_init(net, path, ctx=None):
    """Initialise a :class:`DeepLabVGG16` from VGG16 "20M" params (``arg:conv1_1_weight`` ...
    ``arg:fc7_bias``, release/Module names) or from our own structural ``.params``.

    A release name ``X`` fills our parameter whose name ends with ``_X`` (backbone convs,
    fc6, fc7); fc8 is never taken from the file (its classes differ) and keeps its
    N(0, 0.01) initialisation.

    Returns
    -------
    dict
        ``{"loaded": n, "missing": [our names], "extra": [file keys]}``.
    """
    loaded = load_param_file(path, "VGG16 init params file")
    params = net.collect_params()
    by_suffix = {}
    for name in params.keys():
        m = re.search(r"_((?:conv\d_\d|fc[67])_(?:weight|bias))$", name)
        if m:
            by_suffix[m.group(1)] = name
    ours, extra = {}, []
    for key, value in loaded.items():
        short = key.split(":", 1)[-1]
        if "." in short:  # our structural names (save_parameters)
            short = short.replace("backbone.", "").replace("head.", "").replace(".", "_")
        target = by_suffix.get(short)
        if target is None:
            extra.append(key)
            continue
        if tuple(params[target].shape) != tuple(value.shape):
            raise InputError(path, f"{key}: shape {value.shape} does not fit {target} {params[target].shape}")
        ours[target] = value
    params.load_dict(ours, ctx=ctx if ctx is not None else mx.cpu(), allow_missing=True, ignore_extra=False)
    missing = sorted(n for n in by_suffix.values() if n not in ours)
    return {"loaded": len(ours), "missing": missing, "extra": extra}
