"""gluoncv ImageNet VGG16 -> DeepLab "VGG16 20M" init (docs/method.md "Optimisation").

fc6 (4096 x 512*7*7) becomes a 3x3x512x1024 convolution by keeping every 4th output
unit and the kernel positions 0, 3, 6 of the 7x7 grid; fc7 (4096 x 4096) becomes
1x1x1024x1024 by keeping every 4th input and output unit. The 13 convolutions are
copied. The result uses the release's names (``arg:conv1_1_weight`` ... ``arg:fc7_bias``)
and loads with :func:`icd_mx.compat.release.load_params`.

gluoncv's network expects ``(x/255 - mean) / std`` input, ours ``x - 127``
(docs/method.md "Data conventions"); with ``adapt_input=True`` conv1_1 is rescaled
so that it computes the same function on our input (exact away from the zero
padding of the image border).
"""
import re

import mxnet as mx
import numpy as np

from ..errors import InputError
from ..io import atomic_path, load_param_file
from ..nn.vgg import PIXEL_MEAN, conv_names

GLUON_MEAN = np.array([0.485, 0.456, 0.406])
GLUON_STD = np.array([0.229, 0.224, 0.225])


def _ordered(params, where):
    """(13 conv {weight, bias} groups, dense groups) from gluoncv prefix or structural names."""
    groups = {}
    for key, value in params.items():
        m = re.match(r"^(?:arg:)?vgg\d+_(conv|dense)(\d+)_(weight|bias)$", key)
        s = re.match(r"^(features|output)\.?(\d*)\.(weight|bias)$", key)
        if m:
            order = (int(m.group(1) == "dense"), int(m.group(2)))
        elif s:
            order = (int(s.group(1) == "output"), int(s.group(2) or 0))
        else:
            continue
        groups.setdefault(order, {})[(m or s).group(3)] = value
    ordered = [groups[k] for k in sorted(groups)]
    convs = [g for g in ordered if g.get("weight") is not None and g["weight"].ndim == 4]
    dense = [g for g in ordered if g.get("weight") is not None and g["weight"].ndim == 2]
    if len(convs) != 13 or len(dense) < 2 or any(len(d) != 2 for d in convs + dense):
        raise InputError(where, f"not a gluoncv VGG16 parameter set ({len(convs)} convs, {len(dense)} dense)")
    return convs, dense


def gluoncv_to_20m(params, adapt_input=True, where="gluoncv params"):
    """Convert a dict of gluoncv VGG16 NDArrays/arrays to ``{"arg:NAME": NDArray}`` (20M)."""
    params = {k: np.asarray(v.asnumpy() if hasattr(v, "asnumpy") else v, dtype=np.float64) for k, v in params.items()}
    convs, dense = _ordered(params, where)
    out = {}
    for name, c in zip(conv_names(), convs):
        out[name] = [c["weight"], c["bias"]]
    w1, b1 = out["conv1_1"]
    if adapt_input:
        scale = 1.0 / (255.0 * GLUON_STD)                     # d z_c / d u_c
        shift = (PIXEL_MEAN / 255.0 - GLUON_MEAN) / GLUON_STD  # z_c at u_c = 0
        b1 = b1 + np.einsum("oikl,i->o", w1, shift)
        w1 = w1 * scale[None, :, None, None]
        out["conv1_1"] = [w1, b1]
    w6, b6 = dense[0]["weight"], dense[0]["bias"]
    c5 = convs[-1]["weight"].shape[0]
    if w6.shape[1] != c5 * 49:
        raise InputError(where, f"fc6 has {w6.shape[1]} inputs, expected {c5}*7*7")
    out["fc6"] = [w6.reshape(-1, c5, 7, 7)[::4, :, ::3, ::3], b6[::4]]
    w7, b7 = dense[1]["weight"], dense[1]["bias"]
    out["fc7"] = [w7[::4, ::4][:, :, None, None], b7[::4]]
    result = {}
    for name, (w, b) in out.items():
        result[f"arg:{name}_weight"] = mx.nd.array(np.ascontiguousarray(w), dtype="float32")
        result[f"arg:{name}_bias"] = mx.nd.array(b, dtype="float32")
    return result


def convert_file(src, dst, adapt_input=True):
    """Read gluoncv's ``vgg16-*.params`` at ``src``, write the 20M init to ``dst`` (atomically)."""
    params = load_param_file(src, "gluoncv VGG16 parameter file")
    out = gluoncv_to_20m(params, adapt_input, where=src)
    with atomic_path(dst) as tmp:
        mx.nd.save(tmp, out)
    return sorted(out)
