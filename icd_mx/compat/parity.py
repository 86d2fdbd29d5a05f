"""Seeded parameters for comparing icd-mx with the release (docs/method.md, "Parity").

:func:`seeded_value` regenerates a parameter from its release name alone, so the release's
graph and ours start from the same numbers without a file: a fresh
``RandomState(crc32(name))`` per name, He-style weights with a gain (0.7 in the VGG16
backbone, 3 for fc8, 1 elsewhere), small biases, BN statistics around their neutral
values and a random sign-flip state whose row 14 is swapped. This is the rule the
release's golden outputs in ``tests/fixtures/release/`` were computed with, so the
parity tests and ``tools/compare_release.py`` share it.
"""
import zlib

import numpy as np

from ..nn.vgg import conv_names
from .release import SIGNFLIP_NAME, release_names, set_params

BACKBONE = frozenset(conv_names() + ["fc6", "fc7"])


def seeded_value(name, shape):
    """The float32 value of parameter ``name`` (release naming) of ``shape``."""
    rng = np.random.RandomState(zlib.crc32(name.encode()) & 0xFFFFFFFF)
    shape = tuple(int(s) for s in shape)
    if name == SIGNFLIP_NAME:
        v = rng.uniform(0, 1, shape)
        v[14] = v[14, ::-1]
    elif name.endswith("_weight"):
        prefix = name[:-len("_weight")]
        gain = 0.7 if prefix in BACKBONE else (3.0 if prefix == "fc8" else 1.0)
        v = rng.normal(0, gain * np.sqrt(2.0 / np.prod(shape[1:])), shape)
    elif name.endswith("_bias"):
        v = rng.normal(0, 0.01, shape)
    elif name.endswith("_gamma"):
        v = np.ones(shape)
    elif name.endswith("_beta"):
        v = rng.normal(0, 0.1, shape)
    elif name.endswith("_moving_mean"):
        v = rng.normal(0, 0.1, shape)
    elif name.endswith("_moving_var"):
        v = rng.uniform(0.5, 1.5, shape)
    else:
        raise ValueError(f"no seeded rule for parameter {name!r}")
    return v.astype(np.float32)


def seeded_params(net):
    """``{"arg:NAME" | "aux:NAME": ndarray}`` of the seeded rule for every parameter of ``net``."""
    return {f"{kind}:{name}": seeded_value(name, p.shape) for name, (p, kind) in release_names(net).items()}


def seed_net(net, ctx=None):
    """Initialise ``net`` (an ICDNet with release names) with :func:`seeded_params`; returns it."""
    set_params(net, seeded_params(net), "the seeded rule", ctx)
    return net
