"""Evaluation (docs/method.md, "Evaluation"): mIoU, the Table 2 threshold sweep and
the Table 1 pixel-level mAP of score maps.

mIoU is the release's: a 21x21 confusion matrix summed over all images (int64 here;
the release accumulated in float32), pixels whose ground truth or prediction is >= 21
ignored, ``IoU_c = TP / (TP + FP + FN)`` (0 for a class never seen), mean over 21.

"Score" in the sweep and the mAP is the score map normalised per class map to [-1, 1]
(positive part / max, negative part / |min|, the TD-target normalisation;
:func:`icd_mx.scores.normalise_scores`), so that CAM and ICD maps are comparable.

The evaluators read each image's files once for every score kind (the readers,
``_read_truth`` and ``load_scores``, stay apart from the arithmetic), normalise a score
map once for the sweep and the mAP, and sum integer counts (confusions, histograms)
that worker processes accumulate over chunks of images and the parent merges, so
the results do not depend on the number of workers.
"""
import numpy as np

from .scores import EPS, normalise_scores

try:  # the one-pass counts in C++ (icd_mx/_counts.cpp, built by `pip install -e .`)
    from . import _counts
except ImportError:  # pragma: no cover - without a C++ compiler: the numpy path, the same counts
    _counts = None

NUM = 21
SWEEP_T = (0.0, 0.1, 0.3, 0.5)


def confusion(gt, pred, n=NUM):
    """``(n, n)`` int64 confusion (rows ground truth, columns prediction)."""
    gt, pred = np.asarray(gt).ravel(), np.asarray(pred).ravel()
    valid = (gt < n) & (pred < n)
    for a in (gt, pred):
        if a.dtype.kind != "u":  # unsigned labels cannot be negative
            valid &= a >= 0
    index = gt[valid].astype(np.int64) * n + pred[valid]
    return np.bincount(index, minlength=n * n).reshape(n, n)


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

    def merge(self, other):
        """Add another instance's counts (e.g. a worker's)."""
        self.conf += other.conf

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
    Thresholds are >= 0 (below 0 a pixel would be both).
    """

    def __init__(self, thresholds=SWEEP_T):
        self.thresholds = tuple(thresholds)
        if any(t < 0 for t in self.thresholds):
            raise ValueError(f"thresholds must be >= 0, not {self.thresholds}")
        # the comparisons of threshold_seed: float32 scores against float32(T)
        self._order = sorted(self.thresholds)
        self._sorted = np.array(self._order, np.float32)
        self.reset()

    def reset(self):
        self.ious = {t: SegmentationIoU() for t in self.thresholds}
        self.labelled = {t: 0 for t in self.thresholds}
        self.valid = 0

    def histogram(self, scores, labels, gt):
        """One image's counts: ``(len(thresholds) + 1, 22, 21)`` int64, ``[level, min(gt, 21),
        seed label]``, and its valid pixels (ground truth < 21); ``scores`` normalised.

        Every threshold's seed is :func:`icd_mx.scores.threshold_seed`'s: per pixel the best
        normalised score and its class (the first on ties), and its level, the number of
        thresholds below ``|best|``: the pixel is labelled (its class where best > 0,
        background where best < 0) at exactly the thresholds below its level.
        """
        s, gt = np.asarray(scores), np.asarray(gt)
        best, arg = _best_class(s)
        classes = (np.asarray(labels, np.int64) + 1).astype(np.uint16)
        index = classes[arg] if arg is not None else np.full(best.shape, classes[0], np.uint16)
        index *= best > 0  # the class, or 0: background (best < 0) or unlabelled (best == 0)
        level = np.zeros(best.shape, np.uint16)
        magnitude = np.abs(best)
        for t in self._sorted:
            level += magnitude > t
        n_t, width = len(self._order), (NUM + 1) * NUM
        level *= width
        index += level
        index += np.minimum(gt, NUM).astype(np.uint16) * NUM  # not a label: row NUM, which no count reads
        hist = np.bincount(index.ravel(), minlength=(n_t + 1) * width).reshape(n_t + 1, NUM + 1, NUM)
        return hist, int(np.count_nonzero(gt < NUM))

    def add(self, hist, valid):
        """Add :meth:`histogram` counts (of one image or summed over several) and valid pixels."""
        above = np.cumsum(np.asarray(hist)[::-1, :NUM], axis=0)[::-1]  # above[L]: pixels of level >= L
        for i, t in enumerate(self._order):
            conf = above[i + 1]
            self.ious[t].conf += conf
            self.labelled[t] += int(conf.sum())
        self.valid += int(valid)

    def update(self, scores, labels, gt, normalise=True):
        """One image: resized scores ``(n, h, w)``, present classes, ground truth ``(h, w)``
        (labels 0..20; 255 and other values ignored). With ``normalise=False`` the scores
        are already :func:`normalise_scores`'s."""
        self.add(*self.histogram(normalise_scores(scores) if normalise else scores, labels, gt))

    def merge(self, other):
        """Add another instance's counts (same thresholds)."""
        for t in self.thresholds:
            self.ious[t].merge(other.ious[t])
            self.labelled[t] += other.labelled[t]
        self.valid += other.valid

    def get(self):
        """``{T: {"miou": %, "recall": %}}`` (percentages)."""
        return {t: {"miou": 100 * self.ious[t].get()[1], "miou_present": 100 * self.ious[t].get(True)[1],
                    "recall": 100 * self.labelled[t] / max(self.valid, 1)} for t in self.thresholds}


def normalised(scores):
    """:func:`icd_mx.seeds.normalise_scores` in two passes: each value divided by its
    map's max (positive values) or |min| (negative ones), clamped at 1e-5. The same
    values (a zero may come out as -0.0, which no threshold or bin tells from 0)."""
    scores = np.asarray(scores)
    top = np.maximum(scores.max(axis=(1, 2), keepdims=True), EPS)
    bottom = np.maximum(-scores.min(axis=(1, 2), keepdims=True), EPS)
    return scores / np.where(scores > 0, top, bottom)


def _best_class(s):
    """Per pixel of ``s`` (n, h, w): the best score and its channel (the first on ties, as
    ``argmax``; None for one channel)."""
    if s.shape[0] == 1:
        return s[0], None
    best = s.max(axis=0)
    arg = np.zeros(best.shape, np.uint8)
    for ch in range(s.shape[0] - 1, 0, -1):  # downwards: the first channel holding the maximum wins
        arg[s[ch] == best] = ch
    arg[s[0] == best] = 0
    return best, arg


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


def binned_ap(pos_counts, neg_counts, fast=True):
    """AP from per-bin positive/negative counts (bins in increasing score order), and an
    upper bound on ``|AP_binned - AP_exact|`` for any ordering inside the bins.

    Inside bin b (p_b positives, n_b negatives, T and F true/false positives above it)
    every exact precision lies in ``[T / (T + F + n_b), (T + p_b) / (T + F + p_b)]`` (the
    lower end 0 when T is 0) and the binned value (T + p_b) / (T + F + p_b + n_b) too,
    so the error is at most ``sum_b p_b / P * (upper_b - lower_b)``.

    ``(bins,)`` counts give two floats; ``(classes, bins)`` counts give two ``(classes,)``
    arrays, one value per row (all rows at once). With the C++ extension (and ``fast``)
    the terms come from one pass per row (icd_mx/_counts.cpp): the same doubles.

    Returns
    -------
    (float, float) or (ndarray, ndarray)
        AP and the error bound (nan, nan without positives).
    """
    p, n = np.asarray(pos_counts, np.int64), np.asarray(neg_counts, np.int64)
    shape, bins = p.shape[:-1], p.shape[-1]
    if _counts is not None and fast:  # the same terms in one C++ pass per row
        p, n = np.ascontiguousarray(p.reshape(-1, bins)), np.ascontiguousarray(n.reshape(-1, bins))
        prec, spread, kept = np.empty(p.size), np.empty(p.size), np.empty(len(p), np.int64)
        _counts.ap_terms(p, n, prec, spread, kept, len(p), bins)
    else:
        p, n = p[..., ::-1].reshape(-1, bins), n[..., ::-1].reshape(-1, bins)  # from the highest bin down
        # Integer sums, exact, and so equal to the same sums in float64 (every count and sum is far
        # below 2**53); the rest only where a bin has positives, the only bins that count.
        keep = p > 0
        total = p.sum(axis=-1).astype(np.float64)[np.nonzero(keep)[0]]
        tp_prev = (np.cumsum(p, axis=-1) - p)[keep].astype(np.float64)  # true / false positives above each bin
        fp_prev = (np.cumsum(n, axis=-1) - n)[keep].astype(np.float64)
        pk, nk = p[keep].astype(np.float64), n[keep].astype(np.float64)
        weight = pk / total
        prec = weight * ((tp_prev + pk) / np.maximum(tp_prev + fp_prev + pk + nk, 1))
        spread = weight * ((tp_prev + pk) / np.maximum(tp_prev + fp_prev + pk, 1)
                           - tp_prev / np.maximum(tp_prev + fp_prev + nk, 1))
        kept = keep.sum(axis=-1)
    # summed over the kept bins row by row: the same additions, in the same order, for one row or many
    ends = np.cumsum(kept)
    starts = ends - kept
    ap = np.array([np.sum(prec[a:b]) if b > a else np.nan for a, b in zip(starts, ends)]).reshape(shape)
    bound = np.array([np.sum(spread[a:b]) if b > a else np.nan for a, b in zip(starts, ends)]).reshape(shape)
    if ap.ndim == 0:
        return float(ap), float(bound)
    return ap, bound


class PixelAP:
    """Paper Table 1: per-class pixel AP of score maps over all images with the class.

    ``mode="binned"`` (default) keeps ``bins`` counts of positives and negatives per
    class over the normalised score range [-1, 1] (memory ``O(20 * bins)`` whatever
    the number of images) and reports an error bound (:func:`binned_ap`);
    ``mode="exact"`` keeps every pixel (small sets and tests).

    The binned counts are kept as one code per pixel (negative / positive / not
    labelled, bin) per class and histogrammed ``PENDING`` codes at a time, not per image
    and class: one histogram of 3 x ``bins`` counts per class and few dozen images.
    """

    PENDING = 1 << 22  # codes kept before they are histogrammed

    def __init__(self, bins=100000, mode="binned", num_classes=20):
        if mode not in ("binned", "exact"):
            raise ValueError(f"mode {mode!r}")
        self.bins, self.mode, self.k = bins, mode, num_classes
        self._code_type = np.int32 if 3 * bins < 2 ** 31 else np.int64
        # numpy 1.23 multiplies a float32 array by the Python int ``bins`` in float32 when bins fits
        # in 16 bits and in float64 above (value-based casting): the C++ counts do the same
        self.wide = np.result_type(np.float32, bins) == np.float64
        self.reset()

    def reset(self):
        self._pos = np.zeros((self.k, self.bins), np.int64)
        self._neg = np.zeros((self.k, self.bins), np.int64)
        self._pending, self._pending_size = {}, 0
        self.values = {c: [] for c in range(self.k)}

    @property
    def pos(self):
        """``(classes, bins)`` positive pixels per score bin."""
        self._flush()
        return self._pos

    @property
    def neg(self):
        """``(classes, bins)`` negative pixels per score bin."""
        self._flush()
        return self._neg

    def _flush(self):
        for c, codes in self._pending.items():
            counts = np.bincount(np.concatenate(codes), minlength=3 * self.bins)
            self._neg[c] += counts[:self.bins]
            self._pos[c] += counts[self.bins:2 * self.bins]
        self._pending, self._pending_size = {}, 0

    def __getstate__(self):  # a worker's counts travel histogrammed: the classes seen, int32 if they fit
        self._flush()
        state = dict(self.__dict__)
        if state["_pos"] is None:  # detached (:meth:`_ScoreCounts.detach`)
            return state
        for key in ("_pos", "_neg"):
            rows = np.flatnonzero(state[key].any(axis=1))
            counts = state[key][rows]
            if counts.size and counts.max() < 2 ** 31:
                counts = counts.astype(np.int32)
            state[key] = (state[key].shape, rows, counts)
        return state

    def __setstate__(self, state):
        for key in ("_pos", "_neg"):
            if state[key] is None:
                continue
            shape, rows, counts = state[key]
            state[key] = np.zeros(shape, np.int64)
            state[key][rows] = counts
        self.__dict__.update(state)

    def update(self, scores, labels, gt, normalise=True):
        """One image: scores ``(n, h, w)`` of the present classes ``labels``, ground truth."""
        s = normalise_scores(scores) if normalise else np.asarray(scores)
        valid = gt < NUM
        if self.mode == "exact":
            for ch, c in enumerate(labels):
                self.values[c].append((s[ch][valid].astype(np.float32), gt[valid] == c + 1))
            return
        # per pixel and class: (negative | positive | not labelled, bin)
        codes = ((s + 1.0) * 0.5 * self.bins).astype(self._code_type)
        np.clip(codes, 0, self.bins - 1, out=codes)
        codes += np.where(valid, 0, 2 * self.bins).astype(self._code_type)
        for ch, c in enumerate(labels):
            np.add(codes[ch], self.bins, out=codes[ch], where=gt == c + 1)
            self._pending.setdefault(c, []).append(codes[ch].ravel())
        self._pending_size += codes.size
        if self._pending_size >= self.PENDING:
            self._flush()

    def merge(self, other):
        """Add another instance's counts (same bins and mode); a worker's that came without
        its bins (:func:`_count` added them through shared memory) adds the rest."""
        if other._pos is not None:
            self._pos += other.pos
            self._neg += other.neg
        for c, values in other.values.items():
            self.values[c].extend(values)

    def get(self):
        """``{"ap": [20 per class, %], "map": %, "error_bound": % (binned)}``."""
        if self.mode == "exact":
            aps, bounds = [], []
            for c in range(self.k):
                if self.values[c]:
                    v = np.concatenate([x for x, _ in self.values[c]])
                    p = np.concatenate([y for _, y in self.values[c]])
                    aps.append(average_precision(v, p))
                else:
                    aps.append(float("nan"))
                bounds.append(0.0)
        else:
            aps, bounds = binned_ap(self.pos, self.neg)  # every class at once
        aps = np.array(aps)
        seen = ~np.isnan(aps)
        return {"ap": [None if np.isnan(a) else 100 * a for a in aps],
                "map": float(100 * aps[seen].mean()) if seen.any() else float("nan"),
                "error_bound": float(100 * np.mean(np.array(bounds)[seen])) if seen.any() else 0.0}


def _read_truth(layout, id_):
    """The image's present classes and its ground truth, checked against the image's size."""
    from .data import voc

    # the mask is checked against its image first: a mask of the wrong size is named, not the seed
    return voc.read_labels(layout.xml(id_)), voc.read_mask(layout.mask(id_), shape=voc.image_size(layout.image(id_)))


class _SeedCounts:
    """One chunk of images' seed confusion (picklable: what a worker returns)."""

    def __init__(self, layout, seed_dir):
        self.layout, self.seed_dir, self.iou = layout, seed_dir, SegmentationIoU()

    def __call__(self, ids):
        from .data import voc

        for id_ in ids:
            gt = _read_truth(self.layout, id_)[1]
            self.iou.update(gt, voc.read_mask(f"{self.seed_dir}/{id_}.png", gt.shape))
        return self

    def merge(self, other):
        self.iou.merge(other.iou)


class _ScoreCounts:
    """One share of images' sweep and histograms for every score kind: each image's
    mask, labels and size are read once for all kinds. With the C++ extension
    (``icd_mx._counts``, built by ``pip install -e .``) one pass per score map adds the
    sweep histogram and the AP bins; without it, the numpy path (the same counts)."""

    def __init__(self, layout, score_dirs, size, bins, thresholds, fast=True):
        self.layout, self.score_dirs, self.size = layout, dict(score_dirs), size
        self.sweep = {k: ThresholdSweep(thresholds) for k in self.score_dirs}
        self.ap = {k: PixelAP(bins=bins) for k in self.score_dirs}
        self.fast = fast and _counts is not None

    def __call__(self, ids):
        from .scores import load_scores

        if self.fast:
            hist = {k: np.zeros((len(sw.thresholds) + 1, NUM + 1, NUM), np.int64) for k, sw in self.sweep.items()}
            valid = dict.fromkeys(self.score_dirs, 0)
        for id_ in ids:
            labels, gt = _read_truth(self.layout, id_)
            for kind, folder in self.score_dirs.items():
                scores = load_scores(f"{folder}/{id_}.npy", len(labels), gt.shape[0], gt.shape[1], self.size)
                if self.fast:
                    valid[kind] += self._add(kind, scores, labels, gt, hist[kind])
                else:
                    s = normalised(scores)
                    self.sweep[kind].update(s, labels, gt, normalise=False)
                    self.ap[kind].update(s, labels, gt, normalise=False)
        if self.fast:  # the sweep's counts are sums: one fold for the share
            for kind in self.score_dirs:
                self.sweep[kind].add(hist[kind], valid[kind])
        return self

    def _add(self, kind, scores, labels, gt, hist):
        """:meth:`ThresholdSweep.histogram` and :meth:`PixelAP.update` of raw scores in one
        C++ pass (icd_mx/_counts.cpp); returns the valid pixels."""
        ap, sweep = self.ap[kind], self.sweep[kind]
        ap._flush()
        scores = np.ascontiguousarray(scores, np.float32)
        return _counts.score_counts(scores, np.ascontiguousarray(labels, np.int64),
                                    np.ascontiguousarray(gt, np.uint8), sweep._sorted, hist, ap._pos, ap._neg,
                                    scores.shape[0], gt.size, ap.bins, ap.k, ap.wide)

    def merge(self, other):
        for kind in self.score_dirs:
            self.sweep[kind].merge(other.sweep[kind])
            self.ap[kind].merge(other.ap[kind])

    def arrays(self):
        """The large counts, flushed: every kind's AP bins (``2 x kinds`` arrays of 20 x
        bins int64, 16 MB each at 100000 bins). Workers add them into shared memory
        instead of sending them back (:func:`_count`)."""
        return [a for ap in self.ap.values() for a in (ap.pos, ap.neg)]

    def detach(self):
        """Drop :meth:`arrays` (they were added elsewhere): what travels back is the rest."""
        for ap in self.ap.values():
            ap._pos = ap._neg = None


_WORKER = []


def _init_worker(make, ids, workers, done, shared):
    _WORKER[:] = [make, ids, workers, done, shared]  # inherited through fork, never pickled


def _count_share(k):
    """Worker ``k``'s share, every ``workers``-th image from the k-th, into one counter
    that travels back once; its large arrays, if it has any, are added into the shared
    ones (under a lock) and do not travel."""
    make, ids, workers, done, shared = _WORKER
    counts = make()
    for id_ in ids[k::workers]:
        counts([id_])
        with done.get_lock():
            done.value += 1
    if shared is not None:
        lock, totals = shared
        with lock:
            for total, mine in zip(totals, counts.arrays()):
                total += mine
        counts.detach()
    return counts


def _shared_zeros(like):
    """Zeros shaped and typed as ``like``, in anonymous shared memory that forked
    processes write into (pages are allocated as they are touched)."""
    import mmap

    buf = mmap.mmap(-1, max(like.nbytes, 1))
    return np.frombuffer(buf, like.dtype, like.size).reshape(like.shape)


def _count(make, ids, workers, progress, desc):
    """``make()(ids)``, in ``workers`` forked processes when more than one: worker k counts
    every ``workers``-th image from the k-th into one counter and returns it once, and
    the parent adds them. Counts are integers, so the sum is the same whatever the split."""
    from tqdm import tqdm

    ids = list(ids)
    workers = max(1, min(int(workers or 1), len(ids) // 8))  # a process for fewer images costs more than it saves
    total = make()
    bar = tqdm(total=len(ids), desc=desc, disable=not progress)
    try:
        if workers > 1:
            import multiprocessing as mp

            ctx = mp.get_context("fork")
            done = ctx.Value("q", 0)
            # large counts (the AP bins: 128 MB a worker at 4 kinds) are added into shared memory,
            # not pickled through a pipe, which cost more than a second share saved
            big = total.arrays() if hasattr(total, "arrays") else []
            shared = (ctx.Lock(), [_shared_zeros(a) for a in big]) if big else None
            with ctx.Pool(workers, initializer=_init_worker, initargs=(make, ids, workers, done, shared)) as pool:
                shares = pool.map_async(_count_share, range(workers), chunksize=1)
                while not shares.ready():
                    shares.wait(0.25)
                    bar.update(done.value - bar.n)
                for part in shares.get():  # re-raises a worker's InputError
                    total.merge(part)
            if shared is not None:
                for mine, theirs in zip(big, shared[1]):
                    mine += theirs
        else:
            for id_ in ids:
                total([id_])
                bar.update(1)
    finally:
        bar.close()
    return total


def evaluate_seeds(layout, ids, seed_dir, progress=False, workers=1):
    """mIoU of a folder of seed PNGs against ``layout.mask`` (``workers`` processes).

    Every mask must have its image's size and labels 0..20 or 255 (``voc.read_mask``);
    every seed its mask's size. Anything else is an InputError naming the file.

    Returns
    -------
    dict
        ``{"miou": % (over 21, the release's), "miou_present": % (over the labels in the ground
        truth), "pixel_acc": %, "iou": [21 per-class %], "present": [labels], "images": n}``.
    """
    m = _count(lambda: _SeedCounts(layout, seed_dir), ids, workers, progress, f"eval {seed_dir}").iou
    acc, miou = m.get()
    return {"miou": 100 * miou, "miou_present": 100 * m.get(present_only=True)[1], "pixel_acc": 100 * acc,
            "iou": [100 * x for x in m.per_class()], "present": m.present().tolist(), "images": len(ids)}


def evaluate_score_kinds(layout, ids, score_dirs, size=513, bins=100000, thresholds=SWEEP_T, progress=False,
                         workers=1):
    """:func:`evaluate_scores` of several kinds ``{kind: folder}`` in one pass over the
    images (each image's mask, labels and size read once), in ``workers`` processes.

    Returns
    -------
    dict
        ``{kind: evaluate_scores' result}``.
    """
    score_dirs = dict(score_dirs)
    counts = _count(lambda: _ScoreCounts(layout, score_dirs, size, bins, thresholds), ids, workers, progress,
                    f"eval {', '.join(score_dirs)}")
    out = {}
    for kind in score_dirs:
        r = counts.ap[kind].get()
        out[kind] = {"sweep": {str(t): v for t, v in counts.sweep[kind].get().items()}, "ap": r["ap"],
                     "map": r["map"], "map_error_bound": r["error_bound"], "images": len(ids)}
    return out


def evaluate_scores(layout, ids, score_dir, size=513, bins=100000, thresholds=SWEEP_T, progress=False, workers=1):
    """Table 2 sweep and Table 1 pixel mAP of one score kind (``<run>/scores/<kind>``).

    Returns
    -------
    dict
        ``{"sweep": {T: {"miou", "recall"}}, "ap": [...], "map": %, "map_error_bound": %}``.
    """
    return evaluate_score_kinds(layout, ids, {"scores": score_dir}, size, bins, thresholds, progress,
                                workers)["scores"]


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
