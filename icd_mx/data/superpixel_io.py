"""Superpixel PNG codec: id = B + 256*G + 65536*R, channels as OpenCV reads them.

docs/method.md, "Data conventions": the id of every pixel is spread over the three
8-bit channels of a PNG; merged superpixels (<= 64) only use B. Files are written
with OpenCV (BGR order), so they interchange with the release's files.
"""
import os

import cv2
import numpy as np

from ..errors import InputError
from ..io import atomic_path

MAX_ID = 2 ** 24 - 1


def encode(ids):
    """Superpixel ids ``HxW`` (0..2^24-1) -> ``HxWx3 uint8`` in BGR order (B = low byte)."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise ValueError(f"superpixel ids must be 2-D, got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() > MAX_ID):
        raise ValueError(f"superpixel ids must lie in 0..{MAX_ID}")
    ids = ids.astype(np.int64)
    return np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], axis=-1).astype(np.uint8)


def decode(bgr):
    """``HxWx3 uint8`` BGR image -> ``HxW int32`` ids (B + 256*G + 65536*R)."""
    bgr = np.asarray(bgr)
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {bgr.shape}")
    b, g, r = (bgr[:, :, i].astype(np.int32) for i in range(3))
    return b + 256 * g + 65536 * r


def read_superpixels(path, shape=None):
    """Read a superpixel PNG as ``HxW int32`` ids.

    A single-channel 8-bit file is taken as the ids themselves. If ``shape`` is given
    (the image's ``(h, w)``), a different size raises :class:`InputError`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, "file not found")
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise InputError(path, "not a readable superpixel PNG")
    if raw.dtype != np.uint8 or (raw.ndim == 3 and raw.shape[2] != 3):
        raise InputError(path, f"superpixel PNG must be 8-bit gray or BGR, got {raw.dtype} {raw.shape}")
    ids = raw.astype(np.int32) if raw.ndim == 2 else decode(raw)
    if shape is not None and tuple(ids.shape) != tuple(shape[:2]):
        raise InputError(path, f"superpixel size {ids.shape[0]}x{ids.shape[1]} differs from the image "
                               f"{shape[0]}x{shape[1]}")
    return ids


def write_superpixels(path, ids):
    """Write ``HxW`` ids as a 3-channel PNG (atomic: temp file + rename)."""
    bgr = encode(ids)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(tmp, bgr):
            raise InputError(path, "could not write the superpixel PNG")
