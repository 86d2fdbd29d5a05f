"""Evaluation (docs/method.md, "Evaluation"): mIoU, the Table 2 threshold sweep and
the Table 1 pixel-level mAP of score maps.

mIoU is the release's: a 21x21 confusion matrix summed over all images (int64 here;
the release accumulated in float32), pixels whose ground truth or prediction is >= 21
ignored, ``IoU_c = TP / (TP + FP + FN)`` (0 for a class never seen), mean over 21.

"Score" in the sweep and the mAP is the score map normalised per class map to [-1, 1]
(positive part / max, negative part / |min|, the TD-target normalisation;
:func:`icd_mx.scores.normalise_scores`), so that CAM and ICD maps are comparable.
"""
import numpy as np

from .scores import normalise_scores, threshold_seed

NUM = 21
SWEEP_T = (0.0, 0.1, 0.3, 0.5)


def confusion(gt, pred, n=NUM):
    """``(n, n)`` int64 confusion (rows ground truth, columns prediction)."""
    gt = np.asarray(gt).astype(np.int64).ravel()
    pred = np.asarray(pred).astype(np.int64).ravel()
    valid = (gt < n) & (pred < n) & (gt >= 0) & (pred >= 0)
    return np.bincount(gt[valid] * n + pred[valid], minlength=n * n).reshape(n, n)


def iou_from_confusion(conf):
    """Per-class IoU ``TP / (TP + FP + FN)``; 0 where the denominator is 0."""
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    den = conf.sum(axis=0) + conf.sum(axis=1) - tp
    return np.where(den > 0, tp / np.maximum(den, 1), 0.0)


class SegmentationIoU:
    """Stateful mIoU (gluoncv style ``update`` / ``get`` / ``reset``).

    Parameters
    ----------
    n : int
        Number of labels (21: background + 20 classes); values >= n are ignored.
    """

    def __init__(self, n=NUM):
        self.n = n
        self.reset()

    def reset(self):
        """Zero the confusion matrix."""
        self.conf = np.zeros((self.n, self.n), np.int64)

    def update(self, labels, preds):
        """Add ground truth / prediction label maps (arrays or lists of arrays)."""
        if isinstance(labels, np.ndarray) and isinstance(preds, np.ndarray):
            labels, preds = [labels], [preds]
        for gt, pred in zip(labels, preds):
            if np.shape(gt) != np.shape(pred):
                raise ValueError(f"shapes differ: {np.shape(gt)} vs {np.shape(pred)}")
            self.conf += confusion(gt, pred, self.n)

    def per_class(self):
        """``(n,)`` IoU per label."""
        return iou_from_confusion(self.conf)

    def present(self):
        """Labels that occur in the ground truth seen so far."""
        return np.flatnonzero(self.conf.sum(axis=1) > 0)

    def get(self, present_only=False):
        """``(pixel accuracy, mIoU)`` over valid pixels.

        The mIoU is the release's mean over all ``n`` labels; with ``present_only`` it
        is the mean over the labels present in the ground truth (the same on VOC, where
        every class occurs; the honest figure on a dataset that uses fewer classes,
        such as a mini-VOC generated with 6 of the 20).
        """
        total = self.conf.sum()
        acc = float(np.trace(self.conf) / total) if total else 0.0
        iou = self.per_class()
        if present_only:
            iou = iou[self.present()] if self.present().size else np.zeros(1)
        return acc, float(iou.mean())


class ThresholdSweep:
    """Paper Table 2: seeds at ``score > T`` (fg) / ``score < -T`` (bg), rest unlabelled.

    Per T: mIoU over labelled pixels (:class:`SegmentationIoU`) and recall = labelled
    share of valid (ground truth < 21) pixels. Seeds from :func:`icd_mx.scores.threshold_seed`.
    """

    def __init__(self, thresholds=SWEEP_T):
        self.thresholds = tuple(thresholds)
        self.reset()

    def reset(self):
        self.ious = {t: SegmentationIoU() for t in self.thresholds}
        self.labelled = {t: 0 for t in self.thresholds}
        self.valid = 0

    def update(self, scores, labels, gt):
        """One image: resized scores ``(n, h, w)``, present classes, ground truth ``(h, w)``."""
        valid = gt < NUM
        self.valid += int(valid.sum())
        for t in self.thresholds:
            seed = threshold_seed(scores, labels, t)
            self.ious[t].update(gt, seed)
            self.labelled[t] += int(((seed < NUM) & valid).sum())

    def get(self):
        """``{T: {"miou": %, "recall": %}}`` (percentages)."""
        return {t: {"miou": 100 * self.ious[t].get()[1], "miou_present": 100 * self.ious[t].get(True)[1],
                    "recall": 100 * self.labelled[t] / max(self.valid, 1)} for t in self.thresholds}


def average_precision(scores, positives):
    """Exact AP: sum over unique score thresholds (descending) of precision x recall step.

    Tied scores form one step (as sklearn's ``average_precision_score``). Returns nan
    without positives.
    """
    scores = np.asarray(scores, np.float64).ravel()
    positives = np.asarray(positives, bool).ravel()
    if not positives.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positives[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # end of each tie group
    tp = np.cumsum(p)[last].astype(np.float64)
    cnt = (last + 1).astype(np.float64)
    recall_steps = np.diff(np.r_[0.0, tp]) / tp[-1]
    return float(np.sum(recall_steps * tp / cnt))


def binned_ap(pos_counts, neg_counts):
    """AP from per-bin positive/negative counts (bins in increasing score order), and an
    upper bound on ``|AP_binned - AP_exact|`` for any ordering inside the bins.

    Inside bin b (p_b positives, n_b negatives, T and F true/false positives above it)
    every exact precision lies in ``[T / (T + F + n_b), (T + p_b) / (T + F + p_b)]`` (the
    lower end 0 when T is 0) and the binned value (T + p_b) / (T + F + p_b + n_b) too,
    so the error is at most ``sum_b p_b / P * (upper_b - lower_b)``.

    Returns
    -------
    (float, float)
        AP and the error bound (nan, nan without positives).
    """
    p = np.asarray(pos_counts, np.float64)[::-1]
    n = np.asarray(neg_counts, np.float64)[::-1]
    total = p.sum()
    if total == 0:
        return float("nan"), float("nan")
    tp_prev = np.cumsum(p) - p
    fp_prev = np.cumsum(n) - n
    keep = p > 0
    prec = (tp_prev + p) / np.maximum(tp_prev + fp_prev + p + n, 1)
    ap = np.sum((p / total * prec)[keep])
    upper = (tp_prev + p) / np.maximum(tp_prev + fp_prev + p, 1)
    lower = tp_prev / np.maximum(tp_prev + fp_prev + n, 1)
    bound = np.sum((p / total * (upper - lower))[keep])
    return float(ap), float(bound)


class PixelAP:
    """Paper Table 1: per-class pixel AP of score maps over all images with the class.

    ``mode="binned"`` (default) keeps ``bins`` counts of positives and negatives per
    class over the normalised score range [-1, 1] (memory ``O(20 * bins)`` whatever
    the number of images) and reports an error bound (:func:`binned_ap`);
    ``mode="exact"`` keeps every pixel (small sets and tests).
    """

    def __init__(self, bins=100000, mode="binned", num_classes=20):
        if mode not in ("binned", "exact"):
            raise ValueError(f"mode {mode!r}")
        self.bins, self.mode, self.k = bins, mode, num_classes
        self.reset()

    def reset(self):
        self.pos = np.zeros((self.k, self.bins), np.int64)
        self.neg = np.zeros((self.k, self.bins), np.int64)
        self.values = {c: [] for c in range(self.k)}

    def update(self, scores, labels, gt, normalise=True):
        """One image: scores ``(n, h, w)`` of the present classes ``labels``, ground truth."""
        s = normalise_scores(scores) if normalise else np.asarray(scores)
        valid = gt < NUM
        for ch, c in enumerate(labels):
            v, pos = s[ch][valid], gt[valid] == c + 1
            if self.mode == "exact":
                self.values[c].append((v.astype(np.float32), pos))
                continue
            idx = np.clip(((v + 1.0) * 0.5 * self.bins).astype(np.int64), 0, self.bins - 1)
            self.pos[c] += np.bincount(idx[pos], minlength=self.bins)
            self.neg[c] += np.bincount(idx[~pos], minlength=self.bins)

    def get(self):
        """``{"ap": [20 per class, %], "map": %, "error_bound": % (binned)}``."""
        aps, bounds = [], []
        for c in range(self.k):
            if self.mode == "exact":
                if self.values[c]:
                    v = np.concatenate([x for x, _ in self.values[c]])
                    p = np.concatenate([y for _, y in self.values[c]])
                    aps.append(average_precision(v, p))
                else:
                    aps.append(float("nan"))
                bounds.append(0.0)
            else:
                ap, b = binned_ap(self.pos[c], self.neg[c])
                aps.append(ap)
                bounds.append(b)
        aps = np.array(aps)
        seen = ~np.isnan(aps)
        return {"ap": [None if np.isnan(a) else 100 * a for a in aps],
                "map": float(100 * aps[seen].mean()) if seen.any() else float("nan"),
                "error_bound": float(100 * np.mean(np.array(bounds)[seen])) if seen.any() else 0.0}


def evaluate_seeds(layout, ids, seed_dir, progress=False):
    """mIoU of a folder of seed PNGs against ``layout.mask``.

    Every mask must have its image's size and labels 0..20 or 255 (``voc.read_mask``);
    every seed its mask's size. Anything else is an InputError naming the file.

    Returns
    -------
    dict
        ``{"miou": % (over 21, the release's), "miou_present": % (over the labels in the ground
        truth), "pixel_acc": %, "iou": [21 per-class %], "present": [labels], "images": n}``.
    """
    from tqdm import tqdm

    from .data import voc

    m = SegmentationIoU()
    for id_ in tqdm(ids, desc=f"eval {seed_dir}", disable=not progress):
        # the mask is checked against its image first: a mask of the wrong size is named, not the seed
        gt = voc.read_mask(layout.mask(id_), shape=voc.image_size(layout.image(id_)))
        m.update(gt, voc.read_mask(f"{seed_dir}/{id_}.png", gt.shape))
    acc, miou = m.get()
    return {"miou": 100 * miou, "miou_present": 100 * m.get(present_only=True)[1], "pixel_acc": 100 * acc,
            "iou": [100 * x for x in m.per_class()], "present": m.present().tolist(), "images": len(ids)}


def evaluate_scores(layout, ids, score_dir, size=513, bins=100000, thresholds=SWEEP_T, progress=False):
    """Table 2 sweep and Table 1 pixel mAP of one score kind (``<run>/scores/<kind>``).

    Returns
    -------
    dict
        ``{"sweep": {T: {"miou", "recall"}}, "ap": [...], "map": %, "map_error_bound": %}``.
    """
    from tqdm import tqdm

    from .data import voc
    from .scores import load_scores

    sweep, ap = ThresholdSweep(thresholds), PixelAP(bins=bins)
    for id_ in tqdm(ids, desc=f"eval {score_dir}", disable=not progress):
        labels = voc.read_labels(layout.xml(id_))
        gt = voc.read_mask(layout.mask(id_), shape=voc.image_size(layout.image(id_)))
        scores = load_scores(f"{score_dir}/{id_}.npy", len(labels), gt.shape[0], gt.shape[1], size)
        sweep.update(scores, labels, gt)
        ap.update(scores, labels, gt)
    r = ap.get()
    return {"sweep": {str(t): v for t, v in sweep.get().items()}, "ap": r["ap"], "map": r["map"],
            "map_error_bound": r["error_bound"], "images": len(ids)}


def format_tables(results):
    """Human-readable tables of :func:`evaluate_seeds` / :func:`evaluate_scores` results."""
    from .data.voc import CLASSES

    names = ("background",) + tuple(CLASSES)
    lines = []
    seeds = {k: v for k, v in results.items() if "miou" in v}
    if seeds:
        lines.append("seeds: mIoU (%) and per-class IoU")
        lines.append(f"{'class':<14}" + "".join(f"{k[:12]:>13}" for k in seeds))
        lines.append(f"{'mIoU':<14}" + "".join(f"{v['miou']:>13.1f}" for v in seeds.values()))
        lines.append(f"{'mIoU present':<14}" + "".join(f"{v['miou_present']:>13.1f}" for v in seeds.values()))
        for c, name in enumerate(names):
            lines.append(f"{name:<14}" + "".join(f"{v['iou'][c]:>13.1f}" for v in seeds.values()))
    for kind, v in results.items():
        if "sweep" not in v:
            continue
        lines.append(f"\nscores {kind}: threshold sweep (Table 2) and pixel mAP (Table 1)")
        lines.append(f"{'T':>5} {'mIoU':>7} {'present':>8} {'recall':>7}")
        for t, r in v["sweep"].items():
            lines.append(f"{float(t):>5.1f} {r['miou']:>7.1f} {r['miou_present']:>8.1f} {r['recall']:>7.1f}")
        lines.append(f"mAP {v['map']:.1f} (binning error <= {v['map_error_bound']:.3f})")
    return "\n".join(lines)
