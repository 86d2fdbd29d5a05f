"""Score maps, the files the score export writes and the seed and evaluation stages read.

Score files (docs/architecture.md, "Score and seed files"): ``<run>/scores/<kind>/<id>.npy``,
float32 ``(n_present, h', w')`` for the 513-padded input. They are resized to 513 with
``cv2.resize`` (bilinear, half-pixel centres) one channel at a time, as the release did,
and cropped to the image's ``h x w``. (One multi-channel ``cv2.resize`` call is not the
same: its SIMD path rounds differently for 2 or 5 channels, up to 1e-5, which flips the
sign test of near-zero scores.)

Shared by :mod:`icd_mx.seeds` and :mod:`icd_mx.metrics`: the loader, the resizing, and the
per-class normalisation to [-1, 1] of the Table 2 sweep and the Table 1 mAP
(docs/method.md, "Seeds" and "Evaluation").
"""
import os

import cv2
import numpy as np

from .errors import InputError

IGNORE = 255
EPS = 1e-5      # the release's clamps and thresholds (docs/method.md, "Seeds")


def score_path(run_dir, kind, id_):
    """Where the score map of ``kind`` for image ``id_`` lives."""
    return os.path.join(run_dir, "scores", kind, id_ + ".npy")


def resize_maps(maps, h, w, size=513):
    """``(n, h', w')`` -> ``(n, h, w)`` float32: bilinear to ``size x size`` per channel
    (bit-identical to the release's per-map ``cv2.resize``), top-left crop."""
    maps = np.asarray(maps, np.float32)
    out = np.empty((maps.shape[0], h, w), np.float32)
    for c, m in enumerate(maps):
        out[c] = cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR)[:h, :w]
    return out


def score_size(size=513):
    """Side of the score maps of a ``size`` canvas: the three stride-2 poolings of the
    network (3x3, pad 1) give ``(n - 1) // 2 + 1`` each (513 -> 65, 321 -> 41)."""
    for _ in range(3):
        size = (size - 1) // 2 + 1
    return size


def load_scores(path, n_present, h, w, size=513):
    """Load one score file and resize it (:func:`resize_maps`).

    The file must be what ``tools/infer.py`` writes (docs/architecture.md, "Score and
    seed files"): float32 ``(n_present, s, s)`` with ``s = score_size(size)``, every value
    finite; anything else is an InputError naming the file (docs/reliability.md).
    """
    if not os.path.isfile(path):
        raise InputError(path, "score file not found (run tools/infer.py first)")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError(path, f"not a readable .npy ({e.__class__.__name__})")
    side = score_size(size)
    if arr.dtype != np.float32:
        raise InputError(path, f"scores of dtype {arr.dtype}, expected float32")
    if arr.shape != (n_present, side, side):
        raise InputError(path, f"scores of shape {arr.shape}, expected ({n_present}, {side}, {side}): the "
                               f"{n_present} present classes at the {size} canvas (data.infer_size)")
    bad = int(arr.size - np.isfinite(arr).sum())
    if bad:
        raise InputError(path, f"{bad} non-finite score values (NaN or Inf); export the scores again")
    return resize_maps(arr, h, w, size)


def normalise_scores(scores):
    """Scores mapped to [-1, 1] per class map: positive part / max, negative part / |min|
    (the TD-target normalisation, docs/method.md "Network", clamps 1e-5)."""
    pos = np.maximum(scores, 0) / np.maximum(scores.max(axis=(1, 2), keepdims=True), EPS)
    neg = np.minimum(scores, 0) / np.maximum(-scores.min(axis=(1, 2), keepdims=True), EPS)
    return pos + neg


def threshold_seed(scores, labels, t):
    """Table 2 seed at threshold ``t`` on :func:`normalise_scores`: class argmax where the
    best normalised score > t, background where every class < -t, else 255."""
    s = normalise_scores(scores)
    best = s.max(axis=0)
    seed = (np.asarray(labels, np.int64) + 1)[s.argmax(axis=0)].astype(np.uint8)
    seed[best <= t] = IGNORE
    seed[(s < -t).all(axis=0)] = 0
    return seed
