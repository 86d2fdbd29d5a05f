"""Seeds: pseudo-masks from exported score maps (icd-reference.md, "Seeds").

Score files (docs/architecture.md): ``<run>/scores/<kind>/<id>.npy``, float32
``(n_present, h', w')`` for the 513-padded input; they are resized to 513 with
``cv2.resize`` (bilinear, half-pixel centres as the release did) one channel at a time,
as the release did, and cropped to the image's ``h x w``; once per image and score kind,
shared by every variant. (One multi-channel ``cv2.resize`` call is not the same: its
SIMD path rounds differently for 2 or 5 channels, up to 1e-5, which flips the sign test
of near-zero scores.)

Variants (a seed folder each): ``raw`` (no CRF), ``crf`` (raw refined by the CRF of
:mod:`icd_mx.crf`), ``sal`` (saliency background, no CRF) and ``cam_thr`` (the CAM
baseline at ``seeds.cam_threshold``). Written ``<kind>:<mode>`` to pick a score kind
other than ``seeds.score``; the folder is then ``<kind>_<mode>``.
"""
import os
import typing
from collections import namedtuple

import cv2
import numpy as np

from .config import ScoreKind, SeedMode
from .errors import InputError

IGNORE = 255
EPS = 1e-5      # the release's clamps and thresholds (icd-reference.md, "Seeds")
MODES = typing.get_args(SeedMode)   # the allowed words live in the config types
KINDS = typing.get_args(ScoreKind)

Variant = namedtuple("Variant", "name kind mode")


def parse_variant(spec, default_kind):
    """``"crf"`` -> Variant("crf", default_kind, "crf"); ``"icd_bu:raw"`` -> ("icd_bu_raw", ...)."""
    kind, _, mode = spec.rpartition(":")
    if mode not in MODES or (kind and kind not in KINDS):
        raise InputError("seeds.variants", f"bad variant {spec!r}: use [<kind>:]<mode>, kind in {KINDS}, "
                                           f"mode in {MODES}")
    if mode == "cam_thr":
        return Variant("cam_thr", "cam", mode)
    return Variant(f"{kind}_{mode}" if kind else mode, kind or default_kind, mode)


def default_variants(seed_cfg):
    """Variants from the config: ``seeds.variants`` if set, else raw (+crf) (+sal)."""
    specs = list(seed_cfg.variants) or (["raw"] + (["crf"] if seed_cfg.crf else [])
                                        + (["sal"] if seed_cfg.saliency else []))
    return [parse_variant(s, seed_cfg.score) for s in specs]


def resize_maps(maps, h, w, size=513):
    """``(n, h', w')`` -> ``(n, h, w)`` float32: bilinear to ``size x size`` per channel
    (bit-identical to the release's per-map ``cv2.resize``), top-left crop."""
    maps = np.asarray(maps, np.float32)
    out = np.empty((maps.shape[0], h, w), np.float32)
    for c, m in enumerate(maps):
        out[c] = cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR)[:h, :w]
    return out


def score_size(size=513):
    """Side of the score maps of a ``size`` canvas: the three stride-2 poolings of the
    network (3x3, pad 1) give ``(n - 1) // 2 + 1`` each (513 -> 65, 321 -> 41)."""
    for _ in range(3):
        size = (size - 1) // 2 + 1
    return size


def load_scores(path, n_present, h, w, size=513):
    """Load one score file and resize it (:func:`resize_maps`).

    The file must be what ``tools/infer.py`` writes (docs/architecture.md, "Score and
    seed files"): float32 ``(n_present, s, s)`` with ``s = score_size(size)``, every value
    finite; anything else is an InputError naming the file (docs/reliability.md).
    """
    if not os.path.isfile(path):
        raise InputError(path, "score file not found (run tools/infer.py first)")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError(path, f"not a readable .npy ({e.__class__.__name__})")
    side = score_size(size)
    if arr.dtype != np.float32:
        raise InputError(path, f"scores of dtype {arr.dtype}, expected float32")
    if arr.shape != (n_present, side, side):
        raise InputError(path, f"scores of shape {arr.shape}, expected ({n_present}, {side}, {side}): the "
                               f"{n_present} present classes at the {size} canvas (data.infer_size)")
    bad = int(arr.size - np.isfinite(arr).sum())
    if bad:
        raise InputError(path, f"{bad} non-finite score values (NaN or Inf); export the scores again")
    return resize_maps(arr, h, w, size)


def fg_scores(scores):
    """``max(S, 0) / max over the map`` (clamp 1e-5), per class."""
    mx = np.maximum(scores.max(axis=(1, 2), keepdims=True), EPS)
    return np.maximum(scores, 0) / mx


def bg_mask(scores):
    """Pixels negative for every present class: ``min(S,0)/min(min S, -1e-5) > 1e-5`` for all."""
    mn = np.minimum(scores.min(axis=(1, 2), keepdims=True), -EPS)
    return ((np.minimum(scores, 0) / mn) > EPS).all(axis=0)


def norm_cam(cams):
    """Min-max normalisation over the whole stack of ``max(CAM, 0)``."""
    c = np.maximum(cams, 0)
    lo, hi = c.min(), c.max()
    return (c - lo) / max(hi - lo, EPS)


def _foreground(scores, cams, labels):
    """Candidate class per pixel, fg mask, and the multi-class 'flat product' mask."""
    fg_s = fg_scores(scores)
    proposal = fg_s > EPS
    if len(labels) == 1:  # one channel: the argmax is 0 everywhere, nothing is flat
        fg = proposal[0]
        return np.zeros(fg.shape, np.intp), fg, np.zeros(fg.shape, bool)
    candidate = proposal.argmax(axis=0)
    fg = proposal.any(axis=0)
    comp = norm_cam(cams) * fg_s
    conflict = proposal.sum(axis=0) > 1
    candidate = np.where(conflict, comp.argmax(axis=0), candidate)
    # release: applies to every fg pixel of a multi-class image
    flat = ((comp.max(axis=0) - comp.min(axis=0)) <= EPS) & fg
    return candidate, fg, flat


def _compose(labels, candidate, fg, bg, flat):
    seed = (np.asarray(labels, np.int64) + 1)[candidate].astype(np.uint8)
    seed[bg] = 0
    seed[~(bg ^ fg) | flat] = IGNORE  # both fg and bg, or neither, or flat product
    return seed


def icd_seed(scores, cams, labels):
    """Seed map from ICD scores (icd-reference.md, "Seeds", no saliency).

    Parameters
    ----------
    scores : ndarray
        ``(n, h, w)`` resized scores of the present classes.
    cams : ndarray or None
        ``(n, h, w)`` resized CAM maps (needed only when ``n > 1``).
    labels : sequence of int
        Present class indices 0..19 (increasing, matching the channels).

    Returns
    -------
    ndarray
        ``(h, w)`` uint8: 0 background, c+1 class c, 255 undefined.
    """
    candidate, fg, flat = _foreground(scores, cams, labels)
    return _compose(labels, candidate, fg, bg_mask(scores), flat)


def saliency_seed(scores, cams, labels, saliency, bg_thr=0.01, min_fg_share=0.01):
    """Seed with saliency background (the "I.+S." rows; no CRF).

    Background = ``saliency < 0.01``; when the salient foreground (saliency >= 0.01)
    covers less than 1% of the image, background additionally requires the ICD
    background condition. Foreground and undefined pixels as in :func:`icd_seed`.
    """
    candidate, fg, flat = _foreground(scores, cams, labels)
    bg = saliency < bg_thr
    if (~bg).mean() < min_fg_share:
        bg &= bg_mask(scores)
    return _compose(labels, candidate, fg, bg, flat)


def cam_seed(cams, labels, threshold):
    """CAM-baseline seed: each CAM map normalised by its max (``max(CAM,0)/max``, clamp
    1e-5); a pixel whose largest normalised CAM is > ``threshold`` takes that class
    (argmax), every other pixel is background. No undefined pixels."""
    n = fg_scores(cams)
    cls = n.argmax(axis=0)
    seed = (np.asarray(labels, np.int64) + 1)[cls].astype(np.uint8)
    seed[n.max(axis=0) <= threshold] = 0
    return seed


def normalise_scores(scores):
    """Scores mapped to [-1, 1] per class map: positive part / max, negative part / |min|
    (the TD-target normalisation, icd-reference.md "Network", clamps 1e-5)."""
    pos = np.maximum(scores, 0) / np.maximum(scores.max(axis=(1, 2), keepdims=True), EPS)
    neg = np.minimum(scores, 0) / np.maximum(-scores.min(axis=(1, 2), keepdims=True), EPS)
    return pos + neg


def threshold_seed(scores, labels, t):
    """Table 2 seed at threshold ``t`` on :func:`normalise_scores`: class argmax where the
    best normalised score > t, background where every class < -t, else 255."""
    s = normalise_scores(scores)
    best = s.max(axis=0)
    seed = (np.asarray(labels, np.int64) + 1)[s.argmax(axis=0)].astype(np.uint8)
    seed[best <= t] = IGNORE
    seed[(s < -t).all(axis=0)] = 0
    return seed


class SeedJob:
    """Everything a worker needs for one image (picklable).

    Parameters
    ----------
    layout : VOCLayout
        Dataset paths.
    score_root : str
        ``<run>/scores``.
    out_root : str
        ``<run>/seeds``.
    variants : list of Variant
    cfg : SeedConfig
    size : int
        Inference size (513).
    """

    def __init__(self, layout, score_root, out_root, variants, cfg, size=513):
        self.layout, self.score_root, self.out_root = layout, score_root, out_root
        self.variants, self.cfg, self.size = variants, cfg, size

    def out_path(self, variant, id_, color=False):
        return os.path.join(self.out_root, variant.name + ("_color" if color else ""), id_ + ".png")

    def done(self, id_):
        """True when every variant's seed and preview exist (resume)."""
        return all(os.path.isfile(self.out_path(v, id_, c)) for v in self.variants for c in (False, True))

    def score_path(self, kind, id_):
        return os.path.join(self.score_root, kind, id_ + ".npy")

    def compute(self, id_):
        """All variants' seeds for one image: ``{variant name: (h, w) uint8}``.

        Each input is read once: the XML, each score kind (resized once, shared by the
        variants), and the image, decoded only when a CRF variant needs it (then its
        shape gives ``h x w``; otherwise the header does).
        """
        from .data import voc

        labels = voc.read_labels(self.layout.xml(id_))
        rgb = None
        if any(v.mode == "crf" for v in self.variants):
            rgb = voc.read_image(self.layout.image(id_))
            h, w = rgb.shape[:2]
        else:
            h, w = voc.image_size(self.layout.image(id_))
        cache = {}

        def maps(kind):
            if kind not in cache:
                cache[kind] = load_scores(self.score_path(kind, id_), len(labels), h, w, self.size)
            return cache[kind]

        out = {}
        for v in self.variants:
            if v.mode == "cam_thr":
                out[v.name] = cam_seed(maps("cam"), labels, self.cfg.cam_threshold)
                continue
            cams = maps("cam") if len(labels) > 1 else None
            if v.mode == "sal":
                sal = voc.read_saliency(self.layout.saliency(id_), (h, w))
                out[v.name] = saliency_seed(maps(v.kind), cams, labels, sal)
                continue
            raw_key = ("raw", v.kind)
            if raw_key not in cache:
                cache[raw_key] = icd_seed(maps(v.kind), cams, labels)
            seed = cache[raw_key]
            if v.mode == "crf":
                from .crf import crf_refine_seed

                seed = crf_refine_seed(rgb, seed, self.cfg.crf_confidence, rest=self.cfg.crf_rest or None)
            out[v.name] = seed
        return out

    def __call__(self, id_):
        """Compute and write one image's seeds; returns ``(id, error line or None)``.

        The files are ``voc.write_mask`` / ``voc.write_color_mask``'s, byte for byte; the
        preview's palette is built once per process instead of once per file.
        """
        from .data import voc
        from .io import save_png

        try:
            if self.done(id_):
                return id_, None
            for name, seed in self.compute(id_).items():
                v = next(x for x in self.variants if x.name == name)
                voc.write_mask(self.out_path(v, id_), seed)
                save_png(self.out_path(v, id_, True), seed, palette=_palette())
            return id_, None
        except InputError as e:
            return id_, (e.path, e.problem)


_PALETTE = []


def _palette():
    """``voc.palette()``, computed once per process."""
    if not _PALETTE:
        from .data import voc

        _PALETTE.append(voc.palette())
    return _PALETTE[0]


_WORKER_JOB = []


def _init_worker(job):
    _WORKER_JOB[:] = [job]  # fork: inherited, not pickled


def _run_one(id_):
    return _WORKER_JOB[0](id_)


def _chunksize(n, workers):
    """Images per task: 1 for small runs (no worker left idle at the end, a CRF image
    costs far more than the message), up to 8 on large lists (fewer messages)."""
    return max(1, min(8, n // (workers * 32)))


def seeds_record(job, variant):
    """What a variant's seeds depend on: the score maps (their folder's record), the
    variant and the seed settings (:func:`icd_mx.io.bind_outputs`)."""
    from .io import record_digest

    c = job.cfg
    rec = {"scores": record_digest(job.score_root), "variant": [variant.kind, variant.mode], "size": job.size}
    if variant.mode == "crf":
        rec.update(crf_confidence=c.crf_confidence, crf_rest=c.crf_rest)
    if variant.mode == "cam_thr":
        rec["cam_threshold"] = c.cam_threshold
    if variant.mode == "sal":
        rec["saliency"] = os.path.abspath(job.layout.saliency_dir) if job.layout.saliency_dir else ""
    return rec


def _needed_kinds(job, id_):
    """The score kinds :meth:`SeedJob.compute` reads for ``id_``: every variant's, plus the CAM
    where an image with several classes settles overlaps by it (icd-reference.md "Seeds")."""
    from .data import voc

    kinds = {v.kind for v in job.variants}
    if "cam" not in kinds and any(v.mode != "cam_thr" for v in job.variants) \
            and len(voc.read_labels(job.layout.xml(id_))) > 1:
        kinds.add("cam")
    return sorted(kinds)


def generate_seeds(job, ids, workers=1, progress=True, overwrite=False):
    """Run :class:`SeedJob` over ``ids`` in worker processes (resumable).

    The run folder (the parent of ``job.out_root``) is locked for the stage
    (:func:`icd_mx.io.run_lock`). Score files are checked up front, so a missing file
    fails before any work with one InputError naming it. Each variant's folders are bound
    to :func:`seeds_record` once the inputs are checked: seeds made from other scores or
    settings are refused unless ``overwrite``.

    Returns
    -------
    dict
        ``{"images": n, "skipped": n_already_done}``.

    Raises
    ------
    InputError
        The first bad input met (by a worker or the up-front check).
    """
    from .io import run_lock

    with run_lock(os.path.dirname(os.path.abspath(job.out_root)), "seeds"):
        return _generate_seeds(job, ids, workers, progress, overwrite)


def _generate_seeds(job, ids, workers, progress, overwrite):
    from .io import bind_outputs, check_outputs

    folders = [(os.path.dirname(job.out_path(v, "x", color)), seeds_record(job, v))
               for v in job.variants for color in (False, True)]
    replaced = [check_outputs(folder, rec, overwrite) for folder, rec in folders]  # refuse before any write
    todo = list(ids) if any(replaced) else [i for i in ids if not job.done(i)]
    for id_ in todo:
        for kind in _needed_kinds(job, id_):
            p = job.score_path(kind, id_)
            if not os.path.isfile(p):
                raise InputError(p, "score file not found (run tools/infer.py first)")
    for folder, rec in folders:
        bind_outputs(folder, rec, overwrite)
    todo = [i for i in ids if not job.done(i)]
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="seeds", disable=not progress)
    if workers > 1 and len(todo) > 1:
        import multiprocessing as mp

        workers = min(workers, len(todo))
        with mp.get_context("fork").Pool(workers, initializer=_init_worker, initargs=(job,)) as pool:
            for id_, err in pool.imap_unordered(_run_one, todo, chunksize=_chunksize(len(todo), workers)):
                if err:
                    pool.terminate()
                    raise InputError(*err)
                bar.update()
    else:
        for id_ in todo:
            _, err = job(id_)
            if err:
                raise InputError(*err)
            bar.update()
    bar.close()
    return {"images": len(ids), "skipped": len(ids) - len(todo)}
