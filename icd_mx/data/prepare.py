"""Preparing and checking a dataset root: SBD -> ``SegmentationClassAug``, and a report.

- :func:`build_aug` writes ``SegmentationClassAug/<id>.png`` (single channel, 0..20, 255)
  for every id of VOC2012 ``train``/``val`` (from the palette ``SegmentationClass``, read as
  indices) and of SBD (``dataset/cls/<id>.mat``, ``GTcls.Segmentation``), VOC taking
  precedence, and ``train_aug.txt`` = (VOC train + SBD train + SBD val) minus VOC val.
- :func:`check_root` counts, per list, the missing files and the size mismatches between
  image, mask and superpixels, without decoding the images (headers only).
"""
import os

import numpy as np

from ..errors import InputError
from ..io import save_text
from .voc import VOCLayout, image_size, read_list, read_mask, write_mask


def read_sbd_mat(path):
    """``GTcls.Segmentation`` of an SBD ``cls/*.mat`` file as ``HxW uint8``."""
    if not os.path.isfile(path):
        raise InputError(path, "file not found")
    from scipy.io import loadmat

    try:
        gt = loadmat(path, squeeze_me=True, struct_as_record=False)["GTcls"]
        seg = np.asarray(gt.Segmentation)
    except Exception as e:  # scipy raises many types on a bad file
        raise InputError(path, f"not an SBD GTcls .mat file ({e.__class__.__name__}: {e})")
    if seg.ndim != 2 or seg.size == 0 or seg.max() > 255 or seg.min() < 0:
        raise InputError(path, f"GTcls.Segmentation is not a 2-D label map (shape {seg.shape})")
    return seg.astype(np.uint8)


def _sbd_ids(sbd_root):
    ids = []
    for name in ("train", "val"):
        path = os.path.join(sbd_root, name + ".txt")
        if os.path.isfile(path):
            ids += read_list(sbd_root, path, allow_empty=True)
    if not ids:
        cls_dir = os.path.join(sbd_root, "cls")
        if not os.path.isdir(cls_dir):
            raise InputError(cls_dir, "SBD folder not found (expected <sbd>/cls/*.mat)")
        ids = sorted(f[:-4] for f in os.listdir(cls_dir) if f.endswith(".mat"))
    return ids


def build_aug(voc_root, sbd_root, progress=True):
    """Write ``SegmentationClassAug`` and ``ImageSets/Segmentation/train_aug.txt``.

    Existing output masks are kept (rerunning continues). Returns
    ``{"voc": n, "sbd": n, "train_aug": n}``.
    """
    layout = VOCLayout(voc_root)
    voc_train, voc_val = read_list(voc_root, layout.list_path("train")), read_list(voc_root, layout.list_path("val"))
    sbd_ids = _sbd_ids(sbd_root)
    voc_ids = set(voc_train) | set(voc_val)
    jobs = [(i, "voc") for i in voc_train + voc_val] + [(i, "sbd") for i in sbd_ids if i not in voc_ids]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc="SegmentationClassAug")
    counts = {"voc": 0, "sbd": 0}
    for id_, source in jobs:
        out = layout.mask(id_)
        counts[source] += 1
        if os.path.isfile(out):
            continue
        if source == "voc":
            mask = read_mask(os.path.join(voc_root, "SegmentationClass", id_ + ".png"))
        else:
            mask = read_sbd_mat(os.path.join(sbd_root, "cls", id_ + ".mat"))
        write_mask(out, mask)
    val = set(voc_val)
    train_aug = sorted(set(voc_train) | {i for i in sbd_ids if i not in val})
    save_text(layout.list_path("train_aug"), "".join(i + "\n" for i in train_aug))
    counts["train_aug"] = len(train_aug)
    return counts


def _png_size(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.size[1], im.size[0]


def check_root(root, lists=("train", "val", "train_aug"), superpixel_dir="superpixels", progress=False):
    """Validate a dataset root; returns ``{list: {"ids", "missing": {kind: n}, "mismatch": {kind: n},
    "examples": [lines]}}``. Lists that do not exist are reported with ``ids`` = None.
    Superpixels are only checked when the folder exists."""
    layout = VOCLayout(root, superpixel_dir)
    has_sp = os.path.isdir(layout.superpixel_dir)
    report = {}
    for name in lists:
        try:
            ids = read_list(root, layout.list_path(name), allow_empty=True)
        except InputError:
            report[name] = {"ids": None}
            continue
        entry = {"ids": len(ids), "missing": {}, "mismatch": {}, "examples": []}
        items = ids
        if progress:
            from tqdm import tqdm

            items = tqdm(ids, desc=f"check {name}")
        for id_ in items:
            files = {"image": layout.image(id_), "xml": layout.xml(id_), "mask": layout.mask(id_)}
            if has_sp:
                files["superpixels"] = layout.superpixel(id_)
            size = None
            for kind, path in files.items():
                if not os.path.isfile(path):
                    entry["missing"][kind] = entry["missing"].get(kind, 0) + 1
                    entry["examples"].append(f"{path}: file not found")
                    continue
                if kind == "xml":
                    continue
                try:
                    hw = image_size(path) if kind == "image" else _png_size(path)
                except Exception as e:
                    entry["examples"].append(f"{path}: unreadable ({e.__class__.__name__})")
                    entry["mismatch"][kind] = entry["mismatch"].get(kind, 0) + 1
                    continue
                if kind == "image":
                    size = hw
                elif size is not None and hw != size:
                    entry["mismatch"][kind] = entry["mismatch"].get(kind, 0) + 1
                    entry["examples"].append(f"{path}: size {hw[0]}x{hw[1]} differs from the image {size[0]}x{size[1]}")
        report[name] = entry
    return report


def format_report(report, max_examples=5):
    """The report of :func:`check_root` as readable lines."""
    lines = []
    for name, entry in report.items():
        if entry["ids"] is None:
            lines.append(f"{name}: list not found")
            continue
        miss = ", ".join(f"{k} {v}" for k, v in entry["missing"].items()) or "none"
        bad = ", ".join(f"{k} {v}" for k, v in entry["mismatch"].items()) or "none"
        lines.append(f"{name}: {entry['ids']} ids; missing: {miss}; size mismatch: {bad}")
        lines += [f"  {x}" for x in entry["examples"][:max_examples]]
        if len(entry["examples"]) > max_examples:
            lines.append(f"  ... {len(entry['examples']) - max_examples} more")
    return "\n".join(lines)


def report_ok(report):
    """True when some list was found and no list has a missing file or a size mismatch."""
    found = [e for e in report.values() if e["ids"] is not None]
    return bool(found) and all(not e["missing"] and not e["mismatch"] for e in found)
