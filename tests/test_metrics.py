"""Evaluation metrics against hand computations, gluoncv and brute force."""
import numpy as np
import pytest

from icd_mx import metrics
from icd_mx.scores import normalise_scores


def test_miou_hand_computed():
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 1]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 255]], np.uint8)
    m = metrics.SegmentationIoU()
    m.update(gt, pred)
    iou = m.per_class()
    # class 0: TP 1, FP 1 (gt2->0), FN 1 (gt0->1) -> 1/3 ; class 1: TP 2, FP 1, FN 0 -> 2/3 ; class 2: TP 1, FN 1 -> 1/2
    assert iou[:3] == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert m.get()[1] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 21)
    m.reset()
    assert m.conf.sum() == 0


def test_miou_matches_gluoncv():
    import mxnet as mx
    from gluoncv.utils.metrics.segmentation import SegmentationMetric

    rng = np.random.default_rng(0)
    ours, theirs = metrics.SegmentationIoU(), SegmentationMetric(21)
    for _ in range(3):
        gt = rng.integers(0, 21, (1, 17, 23)).astype(np.int64)
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 21, gt.shape))
        pred[rng.random(gt.shape) < 0.05] = 255
        ours.update(gt[0], pred[0])
        # gluoncv: prediction = argmax of logits, target -1 ignored; mask our ignored pixels there
        target = np.where((gt >= 21) | (pred >= 21), -1, gt)
        logits = np.eye(21, dtype=np.float32)[np.minimum(pred, 20)].transpose(0, 3, 1, 2)
        theirs.update(mx.nd.array(target), mx.nd.array(logits))
    assert ours.get()[1] == pytest.approx(theirs.get()[1], abs=1e-9)


def test_threshold_sweep():
    scores = np.zeros((1, 2, 3), np.float32)
    scores[0] = [[1.0, 0.2, -0.05], [-0.5, -1.0, 0.0]]
    gt = np.array([[5, 5, 0], [0, 0, 255]], np.uint8)
    sw = metrics.ThresholdSweep((0.0, 0.3))
    sw.update(scores, [4], gt)
    r = sw.get()
    # T=0: 5,5,0,0,0,255(score 0 -> neither) ; T=0.3: 5,255,255,0,0,255
    assert r[0.0]["recall"] == pytest.approx(100.0) and r[0.0]["miou"] == pytest.approx(200 / 21)
    assert r[0.3]["recall"] == pytest.approx(60.0) and r[0.3]["miou"] == pytest.approx(200 / 21)


def brute_ap(scores, pos):
    """Obvious AP: for each distinct threshold (descending) precision x recall gain."""
    P = pos.sum()
    ap, prev_r = 0.0, 0.0
    for t in sorted(set(scores.tolist()), reverse=True):
        sel = scores >= t
        tp = (pos & sel).sum()
        r = tp / P
        ap += (r - prev_r) * tp / sel.sum()
        prev_r = r
    return ap


def test_exact_ap_vs_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(5):
        s = np.round(rng.random(300), 2)  # ties on purpose
        pos = rng.random(300) < 0.3 + 0.4 * s
        assert metrics.average_precision(s, pos) == pytest.approx(brute_ap(s, pos), abs=1e-12)
    assert np.isnan(metrics.average_precision(s, np.zeros(300, bool)))


def test_binned_ap_error_within_bound():
    rng = np.random.default_rng(2)
    imgs = [(rng.standard_normal((2, 20, 20)).astype(np.float32), rng.integers(0, 3, (20, 20)).astype(np.uint8))
            for _ in range(6)]
    ex, bn, coarse = metrics.PixelAP(mode="exact"), metrics.PixelAP(bins=100000), metrics.PixelAP(bins=50)
    for s, g in imgs:
        for m in (ex, bn, coarse):
            m.update(s, [0, 1], g)
    e, b, c = ex.get(), bn.get(), coarse.get()
    assert abs(b["map"] - e["map"]) <= b["error_bound"] + 1e-9
    assert b["error_bound"] < 1.0  # percent; the exact ties at 0 and 1 dominate it
    assert abs(c["map"] - e["map"]) <= c["error_bound"] + 1e-9
    assert e["ap"][2] is None
    # the exact mode ranks normalised scores
    s, g = imgs[0]
    pos = (g == 1)
    ns = normalise_scores(s)[0]
    assert metrics.average_precision(ns, pos) == pytest.approx(brute_ap(ns.ravel(), pos.ravel()))


def test_miou_over_present_classes():
    gt = np.array([[0, 0, 1, 1], [0, 0, 1, 255]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 3]])
    m = metrics.SegmentationIoU()
    m.update(gt, pred)
    # background: TP 3, FP 0, FN 1 -> 3/4; class 1: TP 3, FP 1, FN 0 -> 3/4; class 3 unseen in GT
    assert np.isclose(m.get()[1], (0.75 + 0.75) / 21)
    assert np.isclose(m.get(present_only=True)[1], 0.75)
    assert m.present().tolist() == [0, 1]
