"""Shared test fixtures."""
import os

import numpy as np
import pytest


def _miou_present(root, ids, pred_dir):
    """mIoU (%) over the labels present in the ground truth (where the prediction is labelled
    too), straight from the files: PIL reads the PNGs, per label ``|gt & pred| / |gt | pred|``
    over the pixels where both are labelled (< 21). Written apart from icd_mx.metrics, to
    check what the stages report."""
    from PIL import Image

    inter, union, present = np.zeros(21), np.zeros(21), set()
    for id_ in ids:
        gt = np.array(Image.open(os.path.join(root, "SegmentationClassAug", id_ + ".png")))
        pred = np.array(Image.open(os.path.join(pred_dir, id_ + ".png")))
        valid = (gt < 21) & (pred < 21)
        present |= set(np.unique(gt[valid]).tolist())  # labels present where both are labelled
        for c in range(21):
            g, p = (gt == c) & valid, (pred == c) & valid
            inter[c] += (g & p).sum()
            union[c] += (g | p).sum()
    return 100 * float(np.mean([inter[c] / union[c] if union[c] else 0.0 for c in sorted(present)]))


@pytest.fixture
def miou_reference():
    """``miou_reference(root, ids, pred_dir)``: the present-label mIoU (%) recomputed from the files."""
    return _miou_present
