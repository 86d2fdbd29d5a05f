"""Greedy superpixel merging (merge.npz) and the evaluation (iou.npz) against the release."""
import numpy as np
import pytest

from icd_mx.metrics import SegmentationIoU, confusion, iou_from_confusion
from icd_mx.superpixels import merge_fast, merge_reference


@pytest.mark.parametrize("merge", [merge_fast, merge_reference])
@pytest.mark.parametrize("c", ["m1", "m2", "m3"])
def test_merge(golden, c, merge):
    g = golden("merge")
    sp = g[f"{c}_superpixel"]
    sizes = np.bincount(sp.ravel(), minlength=g[f"{c}_feature"].shape[0])
    got = merge(sp, g[f"{c}_feature"], sizes, int(g[f"{c}_num"]))
    np.testing.assert_array_equal(got, g[f"{c}_merged"])


def test_confusion_iou_and_miou(golden):
    g = golden("iou")
    pairs = [(g[f"i{n}_gt"], g[f"i{n}_pred"]) for n in range(4)]
    conf = sum(confusion(gt, pred) for gt, pred in pairs)
    np.testing.assert_array_equal(conf, g["confusion"])
    np.testing.assert_allclose(iou_from_confusion(conf), g["iou"], rtol=1e-6, atol=1e-7)
    metric = SegmentationIoU()
    metric.update([p[0] for p in pairs], [p[1] for p in pairs])
    assert metric.get()[1] == pytest.approx(float(g["miou_printed"]), abs=1e-6)
