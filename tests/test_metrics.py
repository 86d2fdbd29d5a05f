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


def reference_sweep(thresholds, images):
    """The sweep written plainly: threshold_seed per threshold, confusion, labelled pixels."""
    from icd_mx.scores import threshold_seed

    conf = {t: np.zeros((21, 21), np.int64) for t in thresholds}
    labelled, valid = {t: 0 for t in thresholds}, 0
    for s, labels, gt in images:
        valid += int((gt < 21).sum())
        for t in thresholds:
            seed = threshold_seed(s, labels, t)
            conf[t] += metrics.confusion(gt, seed)
            labelled[t] += int(((seed < 21) & (gt < 21)).sum())
    return conf, labelled, valid


def reference_histograms(bins, images):
    """Per class: positive / negative counts per bin, one bincount per image and class."""
    pos, neg = np.zeros((20, bins), np.int64), np.zeros((20, bins), np.int64)
    for s, labels, gt in images:
        s, valid = normalise_scores(s), gt < 21
        for ch, c in enumerate(labels):
            v, p = s[ch][valid], gt[valid] == c + 1
            idx = np.clip(((v + 1.0) * 0.5 * bins).astype(np.int64), 0, bins - 1)
            pos[c] += np.bincount(idx[p], minlength=bins)
            neg[c] += np.bincount(idx[~p], minlength=bins)
    return pos, neg


def awkward_images(rng, n=6):
    """Score maps with ties between classes, exact zeros, values at the thresholds, flat maps."""
    out = []
    for i in range(n):
        k = 1 + i % 3
        s = np.round(rng.standard_normal((k, 9, 11)), 1).astype(np.float32)
        if k > 1:
            s[1, :3] = s[0, :3]  # ties: the first class wins
        s[0, 4, :4] = [0.0, 0.1, -0.3, 0.5]
        if i == 4:
            s[:] = 0.0  # a flat map: nothing labelled
        gt = rng.integers(0, 21, (9, 11)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.15] = 255
        out.append((s, sorted(rng.choice(20, k, replace=False).tolist()), gt))
    return out


def test_one_pass_sweep_and_histograms_equal_the_plain_ones():
    images = awkward_images(np.random.default_rng(5))
    sweep, ap = metrics.ThresholdSweep((0.3, 0.0, 0.1, 0.5)), metrics.PixelAP(bins=1000)
    for s, labels, gt in images:
        sweep.update(s, labels, gt)
        ap.update(s, labels, gt)
    conf, labelled, valid = reference_sweep(sweep.thresholds, images)
    for t in sweep.thresholds:
        np.testing.assert_array_equal(sweep.ious[t].conf, conf[t])
        assert sweep.labelled[t] == labelled[t]
    assert sweep.valid == valid
    pos, neg = reference_histograms(1000, images)
    np.testing.assert_array_equal(ap.pos, pos)
    np.testing.assert_array_equal(ap.neg, neg)
    for s, _, _ in images:  # the evaluators' normalisation: the same values (0 may be -0.0)
        np.testing.assert_array_equal(metrics.normalised(s), normalise_scores(s))
    with pytest.raises(ValueError):
        metrics.ThresholdSweep((-0.1,))


needs_counts = pytest.mark.skipif(metrics._counts is None, reason="icd_mx._counts not built (pip install -e .)")


@needs_counts
@pytest.mark.parametrize("bins", [1000, 100000])
def test_cpp_counts_equal_the_reference_sweep_and_histograms(bins):
    """icd_mx/_counts.cpp on raw scores: the plain sweep (threshold_seed per threshold) and
    the plain per-class bincounts, count for count (ties, zeros, values at the thresholds
    and at bin edges, flat maps, 1-3 classes, several images summed)."""
    rng = np.random.default_rng(11)
    images = awkward_images(rng, 9)
    s = rng.standard_normal((3, 40, 50)).astype(np.float32)  # values on bin edges after normalising
    s[0, 0, :8] = np.array([-1, -0.5, 0, 0.25, 0.5, 0.99999, 1, -0.0]) * s[0].max()
    images.append((s, [2, 7, 19], rng.choice([0, 3, 8, 20, 255, 21], (40, 50)).astype(np.uint8)))
    thresholds = metrics.ThresholdSweep().thresholds
    sweep = metrics.ThresholdSweep()
    pos, neg = np.zeros((20, bins), np.int64), np.zeros((20, bins), np.int64)
    hist = np.zeros((len(thresholds) + 1, 22, 21), np.int64)
    valid = 0
    for s, labels, gt in images:
        s = np.ascontiguousarray(s)
        valid += metrics._counts.score_counts(s, np.array(labels, np.int64), np.ascontiguousarray(gt), sweep._sorted,
                                              hist, pos, neg, s.shape[0], gt.size, bins, 20,
                                              metrics.PixelAP(bins=bins).wide)
    sweep.add(hist, valid)
    conf, labelled, ref_valid = reference_sweep(thresholds, images)
    for t in thresholds:
        np.testing.assert_array_equal(sweep.ious[t].conf, conf[t])
        assert sweep.labelled[t] == labelled[t]
    assert valid == ref_valid
    ref_pos, ref_neg = reference_histograms(bins, images)
    np.testing.assert_array_equal(pos, ref_pos)
    np.testing.assert_array_equal(neg, ref_neg)


@needs_counts
def test_cpp_counts_refuse_bad_buffers():
    s, gt = np.zeros((2, 4, 5), np.float32), np.zeros((4, 5), np.uint8)
    hist, pos, neg = np.zeros((5, 22, 21), np.int64), np.zeros((20, 10), np.int64), np.zeros((20, 10), np.int64)
    t = np.array([0, .1, .3, .5], np.float32)
    with pytest.raises(ValueError, match="class index"):
        metrics._counts.score_counts(s, np.array([0, 20], np.int64), gt, t, hist, pos, neg, 2, 20, 10, 20, False)
    with pytest.raises(ValueError, match="gt"):
        metrics._counts.score_counts(s, np.array([0, 1], np.int64), gt[:3], t, hist, pos, neg, 2, 20, 10, 20, False)
    with pytest.raises(ValueError, match="hist"):
        metrics._counts.score_counts(s, np.array([0, 1], np.int64), gt, t, hist[:4], pos, neg, 2, 20, 10, 20, False)


def test_binned_ap_of_many_rows_is_each_rows():
    rng = np.random.default_rng(12)
    pos, neg = rng.integers(0, 5, (6, 300)), rng.integers(0, 9, (6, 300))
    pos[2] = 0  # no positives: nan
    pos[3, ::2] = 0
    ap, bound = metrics.binned_ap(pos, neg)
    for r in range(6):
        one = metrics.binned_ap(pos[r], neg[r])
        np.testing.assert_array_equal([ap[r], bound[r]], one)  # bit for bit, nan where no positives
    assert np.isnan(ap[2]) and not np.isnan(ap).sum() > 1


def plain_binned_ap(pos, neg):
    """binned_ap's formula bin by bin, from the highest bin down (the reference)."""
    total, tp, fp, ap, bound = pos.sum(), 0, 0, [], []
    for b in range(len(pos) - 1, -1, -1):
        p, n = float(pos[b]), float(neg[b])
        if p > 0:
            w = p / total
            ap.append(w * ((tp + p) / max(tp + fp + p + n, 1)))
            bound.append(w * ((tp + p) / max(tp + fp + p, 1) - tp / max(tp + fp + n, 1)))
        tp, fp = tp + p, fp + n
    return (np.sum(ap), np.sum(bound)) if ap else (np.nan, np.nan)


@pytest.mark.parametrize("fast", [True, False])
def test_binned_ap_terms_equal_the_plain_formula(fast):
    """binned_ap (the C++ terms when built, and numpy's) against the formula bin by bin: the
    same doubles, so the same sums; rows without positives give nan."""
    rng = np.random.default_rng(13)
    pos, neg = rng.integers(0, 40, (5, 2000)), rng.integers(0, 400, (5, 2000))
    pos[1] = 0
    pos[2, :1500] = 0
    neg[3] = 0
    ap, bound = metrics.binned_ap(pos, neg, fast=fast)
    for r in range(5):
        np.testing.assert_array_equal([ap[r], bound[r]], plain_binned_ap(pos[r], neg[r]))
    np.testing.assert_array_equal(metrics.binned_ap(pos[4], neg[4], fast=fast), plain_binned_ap(pos[4], neg[4]))


def test_histograms_are_the_same_whatever_the_flushes_and_pickling():
    import pickle

    images = awkward_images(np.random.default_rng(6), 8)
    one, parts = metrics.PixelAP(bins=500), []
    for i, (s, labels, gt) in enumerate(images):
        one.update(s, labels, gt)
        if i % 3 == 0:
            parts.append(metrics.PixelAP(bins=500))
        parts[-1].PENDING = 50  # flush often
        parts[-1].update(s, labels, gt)
    total = metrics.PixelAP(bins=500)
    for p in parts:
        total.merge(pickle.loads(pickle.dumps(p)))
    np.testing.assert_array_equal(total.pos, one.pos)
    np.testing.assert_array_equal(total.neg, one.neg)
    assert total.get() == one.get()


def write_eval_layout(root, rng, n):
    """JPEG, XML, mask and two score kinds per image, at small sizes."""
    import os

    from PIL import Image

    from icd_mx.data.voc import CLASSES, VOCLayout

    for d in ("JPEGImages", "Annotations", "SegmentationClassAug", "scores/a", "scores/b"):
        os.makedirs(os.path.join(root, d))
    ids = []
    for i in range(n):
        id_, h, w = f"im{i}", 30 + i % 20, 41 - i % 20
        classes = sorted(rng.choice(20, 1 + i % 2, replace=False).tolist())
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(os.path.join(root, "JPEGImages", id_ + ".jpg"))
        gt = rng.choice([0, 255] + [c + 1 for c in classes], (h, w)).astype(np.uint8)
        Image.fromarray(gt).save(os.path.join(root, "SegmentationClassAug", id_ + ".png"))
        names = "".join(f"<object><name>{CLASSES[c]}</name></object>" for c in classes)
        with open(os.path.join(root, "Annotations", id_ + ".xml"), "w") as f:
            f.write(f"<annotation>{names}</annotation>")
        for kind in "ab":
            np.save(os.path.join(root, "scores", kind, id_ + ".npy"),
                    rng.standard_normal((len(classes), 9, 9)).astype(np.float32))
        ids.append(id_)
    return VOCLayout(root), ids


def test_all_kinds_in_one_pass_and_in_workers_equal_one_kind_at_a_time(tmp_path):
    layout, ids = write_eval_layout(str(tmp_path), np.random.default_rng(7), 40)
    dirs = {k: str(tmp_path / "scores" / k) for k in "ab"}
    alone = {k: metrics.evaluate_scores(layout, ids, d, size=65, bins=2000) for k, d in dirs.items()}
    assert metrics.evaluate_score_kinds(layout, ids, dirs, size=65, bins=2000) == alone
    assert metrics.evaluate_score_kinds(layout, ids, dirs, size=65, bins=2000, workers=2) == alone
    numpy_path = metrics._count(lambda: metrics._ScoreCounts(layout, dirs, 65, 2000, metrics.SWEEP_T, fast=False),
                                ids, 1, False, "")
    fast_path = metrics._count(lambda: metrics._ScoreCounts(layout, dirs, 65, 2000, metrics.SWEEP_T), ids, 2, False, "")
    numpy_workers = metrics._count(lambda: metrics._ScoreCounts(layout, dirs, 65, 2000, metrics.SWEEP_T, fast=False),
                                   ids, 2, False, "")
    for k in dirs:  # the C++ counts (when built) and the numpy ones, in one process and in two
        np.testing.assert_array_equal(numpy_workers.ap[k].pos, numpy_path.ap[k].pos)
        np.testing.assert_array_equal(numpy_workers.ap[k].neg, numpy_path.ap[k].neg)
        np.testing.assert_array_equal(fast_path.ap[k].pos, numpy_path.ap[k].pos)
        np.testing.assert_array_equal(fast_path.ap[k].neg, numpy_path.ap[k].neg)
        assert fast_path.sweep[k].get() == numpy_path.sweep[k].get()
    # and the plain computation of the same sweep
    from icd_mx.data import voc
    from icd_mx.scores import load_scores

    images = []
    for id_ in ids:
        labels, gt = voc.read_labels(layout.xml(id_)), voc.read_mask(layout.mask(id_))
        images.append((load_scores(f"{dirs['a']}/{id_}.npy", len(labels), *gt.shape, 65), labels, gt))
    conf, labelled, valid = reference_sweep(metrics.SWEEP_T, images)
    m = metrics.SegmentationIoU()
    m.conf = conf[0.1]
    assert alone["a"]["sweep"]["0.1"]["miou"] == 100 * m.get()[1]
    assert alone["a"]["sweep"]["0.1"]["recall"] == 100 * labelled[0.1] / valid
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for id_, (_, labels, gt) in zip(ids, images):
        from PIL import Image

        Image.fromarray(np.where(gt == 255, 0, gt).astype(np.uint8)).save(seeds / f"{id_}.png")
    pooled = metrics.evaluate_seeds(layout, ids, str(seeds), workers=2)
    assert pooled == metrics.evaluate_seeds(layout, ids, str(seeds))
