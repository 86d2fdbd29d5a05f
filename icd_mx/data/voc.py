"""PASCAL VOC 2012 layout: id lists, images, XML image-level labels, masks, palette.

Conventions follow docs/method.md, "Data conventions":

- images are read with OpenCV and returned as ``HxWx3 uint8`` RGB;
- image-level labels are the non-difficult ``object/name`` entries of the XML, or the
  difficult ones when no other object is present (the release's rule);
- masks are single-channel label maps (0 = background, 1..20 = classes, 255 = ignore);
  palette PNGs (``SegmentationClass``) are read as palette indices with PIL, never via
  ``cv2.imread(path, 0)``, which would return luminance values of the palette colours.

Non-RGB JPEGs (decided here, tested in ``tests/data/test_voc.py``):

- grayscale JPEGs are converted explicitly to three equal channels, which is what the
  release's ``cv2.imread`` does, so training sees the same pixels;
- CMYK / YCCK JPEGs are rejected with :class:`~icd_mx.errors.InputError`: their RGB
  values depend on the colour-management of the decoder, so any conversion could be
  silently wrong. Convert such files to RGB once, outside the pipeline.

Every reader raises :class:`~icd_mx.errors.InputError` with the file and the problem.
"""
import io
import os
import xml.etree.ElementTree as ET

import cv2
import numpy as np

from ..errors import InputError
from ..io import save_png

CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
NUM_CLASSES = 20
IGNORE = 255
LIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lists", "voc2012")


class VOCLayout:
    """Paths of one dataset root in the VOC layout.

    Parameters
    ----------
    root : str
        Folder holding ``JPEGImages``, ``Annotations``, ``SegmentationClassAug``, ...
    superpixel_dir : str
        Superpixel PNG folder, relative to ``root`` unless absolute.
    saliency_dir : str
        Saliency PNG folder, relative to ``root`` unless absolute; empty: none.
    mask_dir : str
        Ground-truth mask folder used by :meth:`mask`.
    """

    def __init__(self, root, superpixel_dir="superpixels", saliency_dir="", mask_dir="SegmentationClassAug"):
        self.root = os.fspath(root)
        self.superpixel_dir = os.path.join(self.root, superpixel_dir)
        self.saliency_dir = os.path.join(self.root, saliency_dir) if saliency_dir else ""
        self.mask_dir = os.path.join(self.root, mask_dir)

    def image(self, id_):
        """``JPEGImages/<id>.jpg``."""
        return os.path.join(self.root, "JPEGImages", id_ + ".jpg")

    def xml(self, id_):
        """``Annotations/<id>.xml``."""
        return os.path.join(self.root, "Annotations", id_ + ".xml")

    def mask(self, id_):
        """``<mask_dir>/<id>.png`` (``SegmentationClassAug`` by default)."""
        return os.path.join(self.mask_dir, id_ + ".png")

    def superpixel(self, id_):
        """``<superpixel_dir>/<id>.png``."""
        return os.path.join(self.superpixel_dir, id_ + ".png")

    def saliency(self, id_):
        """``<saliency_dir>/<id>.png``; raises InputError when no saliency folder is set."""
        if not self.saliency_dir:
            raise InputError("data.saliency_dir", "no saliency folder configured")
        return os.path.join(self.saliency_dir, id_ + ".png")

    def list_path(self, name):
        """``ImageSets/Segmentation/<name>.txt``."""
        return os.path.join(self.root, "ImageSets", "Segmentation", name + ".txt")


def _parse_list(path, allow_empty=False):
    ids, seen = [], {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if parts:
                # plain ids, or DeepLab-style "/JPEGImages/x.jpg /SegmentationClassAug/x.png" lines
                id_ = os.path.splitext(os.path.basename(parts[0]))[0]
                if id_ in seen:  # counted twice, it would weigh twice in training and in the mIoU
                    raise InputError(path, f"id {id_!r} is listed twice (lines {seen[id_]} and {number}); "
                                           "list each image once")
                seen[id_] = number
                ids.append(id_)
    if not ids and not allow_empty:
        raise InputError(path, "the list has no ids")
    return ids


def list_file(root, name_or_path):
    """The file :func:`read_list` reads for ``name_or_path``; InputError when there is none."""
    name_or_path = os.fspath(name_or_path)
    candidates = [name_or_path] if os.sep in name_or_path or name_or_path.endswith(".txt") else []
    candidates += [VOCLayout(root).list_path(name_or_path), os.path.join(LIST_DIR, name_or_path + ".txt")]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise InputError(name_or_path, f"list not found (looked in {', '.join(candidates)})")


def read_list(root, name_or_path, allow_empty=False):
    """Image ids of a list.

    A list with an id twice, or (unless ``allow_empty``) with no id, is an InputError
    naming the list file (docs/reliability.md, "Refusals").

    Parameters
    ----------
    root : str
        Dataset root.
    name_or_path : str
        A list file path, or a name looked up first in ``<root>/ImageSets/Segmentation``
        and then among the official lists shipped in ``icd_mx/data/lists/voc2012``.

    Returns
    -------
    list of str
    """
    return _parse_list(list_file(root, name_or_path), allow_empty)


def _check_file(path):
    if not os.path.isfile(path):
        raise InputError(path, "file not found")


def _jpeg_truncated(data):
    """True when the last scan (SOS ``FFDA``) is not followed by an EOI marker (``FFD9``).

    Inside entropy-coded data every ``FF`` byte is stuffed, so neither marker can occur
    there; an EOI before the last SOS belongs to an embedded thumbnail.
    """
    eoi = data.rfind(b"\xff\xd9")
    return eoi < 0 or eoi < data.rfind(b"\xff\xda")


def read_image(path):
    """Read an image as ``HxWx3 uint8`` RGB (OpenCV decoder, channel axis reversed).

    Grayscale JPEGs become three equal channels; CMYK JPEGs, truncated JPEGs and
    unreadable files raise :class:`InputError` (see the module docstring).
    """
    _check_file(path)
    with open(path, "rb") as f:
        data = f.read()
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, mode = im.format, im.mode
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InputError(path, f"not a readable image ({e.__class__.__name__})")
    if mode in ("CMYK", "YCCK"):
        raise InputError(path, f"{mode} {fmt} is not supported; convert it to RGB first")
    if fmt == "JPEG" and _jpeg_truncated(data):
        raise InputError(path, "truncated JPEG (no end-of-image marker after the last scan)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # gray -> 3 equal channels
    if bgr is None:
        raise InputError(path, f"could not decode the {fmt} image")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def image_size(path):
    """``(h, w)`` of an image from its header (PIL), without decoding the pixels."""
    _check_file(path)
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except Exception as e:  # any PIL failure on a header is a bad file
        raise InputError(path, f"not a readable image ({e.__class__.__name__})")


def read_labels(xml_path):
    """Sorted class indices 0..19 of an ``Annotations`` XML (the release's difficult rule).

    The labels are the names of objects with ``difficult`` 0 (a missing tag counts as 0);
    if there are none, the names of the difficult objects (docs/method.md,
    "Data conventions"). An XML with no object or an unknown class name raises InputError.
    """
    _check_file(xml_path)
    try:
        tree = ET.parse(xml_path)
    except ET.ParseError as e:
        raise InputError(xml_path, f"not valid XML ({e})")
    easy, hard = set(), set()
    for obj in tree.getroot().iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in CLASSES:
            raise InputError(xml_path, f"unknown class name {name!r}")
        difficult = (obj.findtext("difficult") or "0").strip()
        (hard if difficult not in ("", "0") else easy).add(CLASSES.index(name))
    labels = easy or hard
    if not labels:
        raise InputError(xml_path, "no object in the annotation")
    return sorted(labels)


def label_vector(indices):
    """``(20,) float32`` multi-hot vector of class indices 0..19."""
    vec = np.zeros(NUM_CLASSES, np.float32)
    vec[list(indices)] = 1.0
    return vec


def _check_shape(path, arr, shape, what):
    if shape is not None and tuple(arr.shape[:2]) != tuple(shape[:2]):
        raise InputError(path, f"{what} size {arr.shape[0]}x{arr.shape[1]} differs from the image "
                               f"{shape[0]}x{shape[1]}")


def read_mask(path, shape=None, check_values=True):
    """Read a label map as ``HxW uint8``.

    Palette PNGs give their palette indices, gray PNGs their values (PIL). Other modes
    (RGB colour masks, 16-bit) raise InputError. If ``shape`` is given, the size must match.
    With ``check_values``, a value other than 0..20 and 255 is an InputError naming them
    (the mIoU would ignore such pixels silently).
    """
    _check_file(path)
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            mask = np.array(im) if mode in ("P", "L") else None
    except Exception as e:
        raise InputError(path, f"not a readable mask ({e.__class__.__name__})")
    if mask is None:
        raise InputError(path, f"mask mode {mode} is not a palette or single-channel 8-bit PNG")
    _check_shape(path, mask, shape, "mask")
    if check_values:
        counts = np.bincount(mask.ravel(), minlength=256)
        bad = [v for v in np.flatnonzero(counts) if NUM_CLASSES < v < IGNORE]
        if bad:
            shown = ", ".join(str(v) for v in bad[:8]) + (" ..." if len(bad) > 8 else "")
            raise InputError(path, f"label values {shown} outside 0..{NUM_CLASSES} and {IGNORE} "
                                   f"({int(counts[bad].sum())} pixels)")
    return mask


def read_saliency(path, shape=None):
    """Read a saliency PNG as ``HxW float32`` in [0, 1] (gray value / 255)."""
    _check_file(path)
    sal = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if sal is None:
        raise InputError(path, "not a readable saliency PNG")
    _check_shape(path, sal, shape, "saliency")
    return sal.astype(np.float32) / 255.0


def palette():
    """The VOC colour palette, ``(256, 3) uint8`` (bit-interleaved label colours)."""
    pal = np.zeros((256, 3), np.uint8)
    for label in range(256):
        c, r, g, b = label, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        pal[label] = (r, g, b)
    return pal


def _as_mask(mask):
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    return mask.astype(np.uint8)


def write_mask(path, mask):
    """Write a label map as a single-channel 8-bit PNG (atomic)."""
    save_png(path, _as_mask(mask))


def write_color_mask(path, mask):
    """Write a label map as a VOC palette PNG (indices preserved, colours for viewing)."""
    save_png(path, _as_mask(mask), palette=palette())
