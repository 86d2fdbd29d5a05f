#!/usr/bin/env python
"""Seeds per second with and without CRF: ours (generate_seeds, one process and a worker
pool) against a release-style per-image path, same work, identical outputs checked.
Prints JSON.

Same work: both paths read the same inputs and write, per image and variant (``raw``,
and ``crf`` in the CRF runs), the single-channel seed PNG and its VOC-palette colour
preview. The release-style path is the release's seed function written plainly (one
process, per-channel resizes, a full image decode for the size, a 256-row CRF unary);
its CRF unary puts the release's (1 - 0.5)/21 on the non-seed labels, as icd_mx/crf.py
does, and it runs pydensecrf over all 21 labels; ours runs the labels absent from the seed
as one label of multiplicity m (icd_mx/crf.py, same marginals), 2-4 labels on these images.
``identical_output`` compares every seed and every preview's pixels of every run
of ours with the release-style files.

Figures: ``*_s`` wall seconds (best of ``--repeat``, runs interleaved), ``*_cpu_s``
CPU seconds of the run (user + sys of this process and its reaped workers),
``speedup_<tag>_w<n>`` release wall / ours wall (throughput; the release ran one
process, ours runs ``workers``), ``cpu_ratio_<tag>_w<n>`` release CPU / ours CPU
(per-image cost, independent of free cores). On a loaded machine the wall speed-up of
the pool is bounded by the cores it gets: ``core_capacity_w<n>`` measures them (n
processes of a fixed loop at once against one alone; n on an idle machine) and
``pool_scaling_<tag>`` is ours w1 wall / ours w<n> wall, to set beside it; with free
cores the throughput ratio approaches ``cpu_ratio_<tag>_w<n> * workers``.

    python benchmarks/bench_seeds.py --images 12 --workers 2
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from icd_mx import seeds  # noqa: E402
from icd_mx.config import SeedConfig  # noqa: E402
from icd_mx.data import voc  # noqa: E402
from icd_mx.data.synthetic import make_minivoc  # noqa: E402


def release_style(id_, layout, score_root, out_root, crf=True, size=513):
    """The release's per-image seed path written plainly (reference for time and output)."""
    import pydensecrf.densecrf as dcrf

    labels = voc.read_labels(layout.xml(id_))
    image = cv2.imread(layout.image(id_))
    h, w = image.shape[:2]
    scores = np.load(os.path.join(score_root, "icd_td", id_ + ".npy"))
    scores = np.array([cv2.resize(x, (size, size))[:h, :w] for x in scores])
    fg_s = np.maximum(scores, 0) / np.maximum(scores.max(axis=(1, 2), keepdims=True), 1e-5)
    proposal = fg_s > 1e-5
    cand = proposal.argmax(axis=0)
    if len(labels) > 1:
        cams = np.load(os.path.join(score_root, "cam", id_ + ".npy"))
        cams = np.maximum(np.array([cv2.resize(x, (size, size))[:h, :w] for x in cams]), 0)
        comp = (cams - cams.min()) / max(cams.max() - cams.min(), 1e-5) * fg_s
        conflict = proposal.sum(axis=0) > 1
        cand = cand * (1 - conflict) + comp.argmax(axis=0) * conflict
    fg = proposal.max(axis=0)
    bg = ((np.minimum(scores, 0) / np.minimum(scores.min(axis=(1, 2), keepdims=True), -1e-5)) > 1e-5).min(axis=0)
    undefined = ~(bg ^ fg)
    if len(labels) > 1:
        undefined |= ((comp.max(axis=0) - comp.min(axis=0)) <= 1e-5) & fg
    seed = (np.array(labels) + 1)[cand.ravel()].reshape(h, w).astype(np.uint8)
    seed[bg] = 0
    seed[undefined] = 255
    cv2.imwrite(os.path.join(out_root, "raw", id_ + ".png"), seed)
    voc.write_color_mask(os.path.join(out_root, "raw_color", id_ + ".png"), seed)
    if not crf:
        return
    prob = np.full((256, h * w), 0.5 / 21, np.float32)  # the release's (1 - confidence) / num_cls
    prob[seed.ravel(), np.arange(h * w)] = 0.5
    prob = prob[:21]
    prob /= prob.sum(axis=0, keepdims=True)
    d = dcrf.DenseCRF2D(w, h, 21)
    d.setUnaryEnergy(-np.log(np.maximum(prob, 1e-5)))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=image[..., ::-1].copy(), compat=10)
    q = np.array(d.inference(10)).reshape(21, h, w)
    q /= q.sum(axis=0, keepdims=True)
    out = q.argmax(axis=0).astype(np.uint8)
    out[q.max(axis=0) < 0.1] = 255
    cv2.imwrite(os.path.join(out_root, "crf", id_ + ".png"), out)
    voc.write_color_mask(os.path.join(out_root, "crf_color", id_ + ".png"), out)


def fake_scores(rng, root, ids, layout):
    for id_ in ids:
        n = len(voc.read_labels(layout.xml(id_)))
        for kind in ("icd_td", "cam"):
            small = rng.standard_normal((n, 9, 9)).astype(np.float32)
            maps = np.array([cv2.resize(m, (65, 65), interpolation=cv2.INTER_CUBIC) for m in small])
            os.makedirs(os.path.join(root, "scores", kind), exist_ok=True)
            np.save(os.path.join(root, "scores", kind, id_ + ".npy"), maps)


def timed(fn):
    """``(wall s, cpu s)`` of ``fn()``; CPU = user + sys of this process and its reaped children."""
    t, c = time.perf_counter(), os.times()
    fn()
    c2 = os.times()
    cpu = (c2.user - c.user) + (c2.system - c.system) + (c2.children_user - c.children_user) \
        + (c2.children_system - c.children_system)
    return time.perf_counter() - t, cpu


def _burn(_):
    t, x = time.perf_counter(), 0
    for i in range(2_000_000):
        x += i
    return time.perf_counter() - t


def core_capacity(n):
    """Cores that ``n`` busy processes get right now: ``n * t(alone) / mean t(n at once)``
    for a fixed pure-Python loop (n on an idle machine with n free cores)."""
    import multiprocessing as mp

    alone = min(_burn(0) for _ in range(2))
    with mp.get_context("fork").Pool(n) as pool:
        together = pool.map(_burn, range(n), chunksize=1)
    return n * alone / (sum(together) / n)


def same(a, b, ids):
    """Seeds equal, and colour previews equal in pixels and palette."""
    from PIL import Image

    for i in ids:
        if not np.array_equal(voc.read_mask(os.path.join(a, i + ".png")), voc.read_mask(os.path.join(b, i + ".png"))):
            return False
        with Image.open(os.path.join(a + "_color", i + ".png")) as pa, \
                Image.open(os.path.join(b + "_color", i + ".png")) as pb:
            if pa.mode != "P" or pb.mode != "P" or pa.getpalette() != pb.getpalette() \
                    or not np.array_equal(np.asarray(pa), np.asarray(pb)):
                return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--side", type=int, default=400, help="max image side (VOC: 500)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each path; the best is kept")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_seeds_")
    make_minivoc(tmp, args.images, 0, 0, 20, args.side * 3 // 4, args.side)
    layout = voc.VOCLayout(tmp)
    ids = voc.read_list(tmp, "train_aug")[:args.images]
    fake_scores(np.random.default_rng(0), tmp, ids, layout)
    score_root = os.path.join(tmp, "scores")
    n = len(ids)
    res = {"benchmark": "seeds", "images": n, "max_side": args.side, "workers": args.workers,
           "repeat": args.repeat, "cpu_count": os.cpu_count(), "loadavg_start": list(os.getloadavg())}
    best, ok = {}, True

    def keep(key, wall_cpu):
        old = best.get(key)
        best[key] = wall_cpu if old is None else (min(old[0], wall_cpu[0]), min(old[1], wall_cpu[1]))

    workers = sorted({1, args.workers})
    res[f"core_capacity_w{args.workers}"] = round(core_capacity(args.workers), 2)
    for r in range(args.repeat):
        for tag, variants in (("raw", ["raw"]), ("crf", ["raw", "crf"])):
            rel = os.path.join(tmp, f"release_{tag}_{r}")
            for d in variants:
                for suffix in ("", "_color"):
                    os.makedirs(os.path.join(rel, d + suffix), exist_ok=True)
            keep(f"release_{tag}", timed(lambda: [release_style(i, layout, score_root, rel, tag == "crf")
                                                  for i in ids]))
            for w in workers:
                out = os.path.join(tmp, f"ours_{tag}_{w}_{r}")
                vs = [seeds.parse_variant(v, "icd_td") for v in variants]
                job = seeds.SeedJob(layout, score_root, out, vs, SeedConfig())
                keep(f"ours_{tag}_w{w}", timed(lambda: seeds.generate_seeds(job, ids, w, progress=False)))
                for v in variants:
                    ok &= same(os.path.join(out, v), os.path.join(rel, v), ids)
    for tag in ("raw", "crf"):
        rw, rc = best[f"release_{tag}"]
        res[f"release_{tag}_s"], res[f"release_{tag}_cpu_s"] = round(rw, 4), round(rc, 3)
        res[f"release_{tag}_img_per_s"] = round(n / rw, 3)
        for w in workers:
            ow, oc = best[f"ours_{tag}_w{w}"]
            res[f"ours_{tag}_w{w}_s"], res[f"ours_{tag}_w{w}_cpu_s"] = round(ow, 4), round(oc, 3)
            res[f"ours_{tag}_w{w}_img_per_s"] = round(n / ow, 3)
            res[f"speedup_{tag}_w{w}"] = round(rw / ow, 3)
            res[f"cpu_ratio_{tag}_w{w}"] = round(rc / oc, 3)
        if args.workers > 1:  # the pool's own scaling, to set beside core_capacity
            res[f"pool_scaling_{tag}"] = round(best[f"ours_{tag}_w1"][0] / best[f"ours_{tag}_w{args.workers}"][0], 3)
    res["loadavg_end"] = list(os.getloadavg())
    res["identical_output"] = bool(ok)
    res["target"] = ("per-image cost at least 2x lower than the release's (issue 4): cpu_ratio_crf_w1 >= 2, "
                     "with both paths writing the same seeds and previews")
    res["note"] = ("pydensecrf's inference is most of a CRF image's cost: ours runs it on the seed's labels plus "
                   "one for the absent ones (cpu_ratio_crf_w1 is the per-image gain); the worker pool multiplies "
                   "throughput by the idle cores it gets (pool_scaling beside core_capacity)")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
