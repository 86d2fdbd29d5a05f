"""Joint image / map transforms: superpixels (ICD stage) and seed labels (segmentation stage).

docs/method.md, "Training augmentation": random scale from a set
(bilinear image, nearest superpixels), horizontal flip with p = 0.5, padding at the
bottom/right to the crop size (image 127, superpixels a new id), a random crop, and
per-sample re-indexing of the superpixel ids. Inference pads to 513 with the image at
the top-left and keeps the original size.

All randomness comes from an explicit ``numpy.random.RandomState``; the draws are, in
order: scale index, flip, crop top, crop left.
"""
import cv2
import numpy as np

from .voc import IGNORE

PAD_VALUE = 127.0


def reindex(sp):
    """Map the ids of ``sp`` to ``0..K-1`` in increasing order of the old ids (int32)."""
    _, inverse = np.unique(sp, return_inverse=True)
    return inverse.reshape(sp.shape).astype(np.int32)


def pad_bottom_right(img, sp, height, width, fill=None):
    """Pad ``img`` (HxWx3) with 127 and ``sp`` (HxW) with ``fill`` (default: a new id, max + 1)
    to at least ``height x width``; the content stays at the top-left."""
    h, w = sp.shape
    ph, pw = max(height - h, 0), max(width - w, 0)
    if ph == 0 and pw == 0:
        return img, sp
    img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="constant", constant_values=PAD_VALUE)
    fill = int(sp.max()) + 1 if fill is None else fill
    sp = np.pad(sp, ((0, ph), (0, pw)), mode="constant", constant_values=fill)
    return img, sp


def _to_chw(img):
    return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)


def sync_transform(img, label, rng, crop_size=321, scales=(0.5, 0.75, 1.0, 1.25, 1.5), fill=None):
    """The release's augmentation of an image and a map aligned with it (superpixel ids of
    the ICD stage, seed labels of the segmentation stage): random scale (bilinear image,
    nearest map), flip p = 0.5, pad bottom/right (image 127, map ``fill``), random crop.

    Parameters
    ----------
    img : ndarray
        ``HxWx3`` RGB image (uint8 or float), values 0..255.
    label : ndarray
        ``HxW`` map aligned with ``img``.
    rng : numpy.random.RandomState
        Source of all random draws, in order: scale index, flip, crop top, crop left.
    crop_size : int
        Side ``C`` of the square crop.
    scales : sequence of float
        Scale set; one is drawn uniformly.
    fill : int, optional
        The map's padding (default: a new id, its max + 1).

    Returns
    -------
    img : ndarray
        ``(3, C, C) float32`` RGB 0..255, padding 127.
    label : ndarray
        ``(C, C)`` map, of ``label``'s dtype.
    """
    if img.shape[:2] != label.shape:
        raise ValueError(f"image {img.shape[:2]} and map {label.shape} differ in size")
    scale = float(scales[rng.randint(len(scales))])
    if scale != 1.0:
        # The release resizes the uint8 image (its values rounded to uint8) to the explicit
        # size (int(w*s + .5), int(h*s + .5)); fx/fy factors round the size differently
        # (docs/method.md, "Training augmentation").
        h, w = label.shape
        size = (int(w * scale + .5), int(h * scale + .5))
        img = cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    img = np.asarray(img, dtype=np.float32)
    if rng.rand() < 0.5:
        img, label = img[:, ::-1], label[:, ::-1]
    img, label = pad_bottom_right(img, label, crop_size, crop_size, fill)
    h, w = label.shape
    top = rng.randint(h - crop_size + 1)
    left = rng.randint(w - crop_size + 1)
    img = img[top:top + crop_size, left:left + crop_size]
    label = label[top:top + crop_size, left:left + crop_size]
    return _to_chw(img), np.ascontiguousarray(label)


def train_transform(img, sp, rng, crop_size=321, scales=(0.5, 0.75, 1.0, 1.25, 1.5)):
    """The ICD stage's training augmentation: :func:`sync_transform` of the image and its
    superpixels (padding one id of its own), then the ids re-indexed to ``0..K-1``.

    Returns
    -------
    img : ndarray
        ``(3, C, C) float32`` RGB 0..255, padding 127.
    sp : ndarray
        ``(C, C) int32`` ids re-indexed to ``0..K-1``; padding is one id of its own.
    """
    img, sp = sync_transform(img, np.asarray(sp, dtype=np.int32), rng, crop_size, scales)
    return img, reindex(sp)


def seg_transform(img, label, rng, crop_size=321, scales=(0.5, 0.75, 1.0, 1.25, 1.5)):
    """The segmentation stage's augmentation: :func:`sync_transform` of the image and its
    seed labels (0..20, padding 255 = ignored), the labels as ``(C, C) float32``."""
    img, label = sync_transform(img, np.asarray(label, np.uint8), rng, crop_size, scales, fill=IGNORE)
    return img, label.astype(np.float32)


def infer_transform(img, sp, size=513):
    """Inference input: pad bottom/right to ``size x size`` (docs/method.md, "Training
    augmentation": inference), no scaling, the image at the top-left.

    Superpixel ids are re-indexed to ``0..K-1`` and the padding gets id ``K``.

    Returns
    -------
    img : ndarray ``(3, size, size) float32``
    sp : ndarray ``(size, size) int32``
    hw : tuple ``(h, w)`` of the original image
    """
    h, w = sp.shape
    if img.shape[:2] != (h, w):
        raise ValueError(f"image {img.shape[:2]} and superpixels {sp.shape} differ in size")
    if h > size or w > size:
        raise ValueError(f"image {h}x{w} is larger than the inference size {size}")
    img, sp = pad_bottom_right(np.asarray(img, np.float32), reindex(sp), size, size)
    return _to_chw(img), sp.astype(np.int32), (h, w)
