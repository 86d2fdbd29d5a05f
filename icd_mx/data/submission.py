"""The PASCAL VOC 2012 evaluation-server layout for test predictions.

``<root>/results/VOC2012/Segmentation/comp6_test_cls/<id>.png``: palette PNGs (the VOC
colour map, index = class, 0..20) at the image's original size; ``comp6`` is the
competition for methods trained on data beyond VOC (here: the seeds). Pack with
:func:`archive_submission` (a ``.tar.gz`` holding ``results/``) and upload.
"""
import os
import tarfile

import numpy as np

from ..data.voc import write_color_mask
from ..io import atomic_path

SUBMISSION_DIR = os.path.join("results", "VOC2012", "Segmentation", "comp6_test_cls")


def submission_path(root, id_):
    """``<root>/results/VOC2012/Segmentation/comp6_test_cls/<id>.png``."""
    return os.path.join(root, SUBMISSION_DIR, id_ + ".png")


def write_submission(root, id_, mask):
    """Write one prediction (``HxW`` labels 0..20) as a VOC palette PNG, atomically.

    Returns
    -------
    str
        The path written.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0 or int(mask.max()) > 20:
        raise ValueError(f"{id_}: a submission mask is HxW with labels 0..20, got {mask.shape}")
    path = submission_path(root, id_)
    write_color_mask(path, mask)
    return path


def archive_submission(root, path=None):
    """Pack ``<root>/results`` into ``path`` (default ``<root>/results.tar.gz``) for upload."""
    path = path or os.path.join(root, "results.tar.gz")
    with atomic_path(path) as tmp:
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(os.path.join(root, "results"), arcname="results")
    return path
