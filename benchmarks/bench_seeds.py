#!/usr/bin/env python
"""Seeds per second with and without CRF: ours (SeedJob, one process and a worker pool)
against a release-style per-image path (per-channel resizes, full image decode, 256-row
CRF unary, as the release's seed function did), identical outputs checked. Prints JSON.

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
    if not crf:
        return
    prob = np.full((256, h * w), 0.5 / 21, np.float32)
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


def fake_scores(rng, root, ids, layout):
    for id_ in ids:
        n = len(voc.read_labels(layout.xml(id_)))
        for kind in ("icd_td", "cam"):
            small = rng.standard_normal((n, 9, 9)).astype(np.float32)
            maps = np.array([cv2.resize(m, (65, 65), interpolation=cv2.INTER_CUBIC) for m in small])
            os.makedirs(os.path.join(root, "scores", kind), exist_ok=True)
            np.save(os.path.join(root, "scores", kind, id_ + ".npy"), maps)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def same(a, b, ids):
    return all(np.array_equal(voc.read_mask(os.path.join(a, i + ".png")), voc.read_mask(os.path.join(b, i + ".png")))
               for i in ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--side", type=int, default=400, help="max image side (VOC: 500)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_seeds_")
    make_minivoc(tmp, args.images, 0, 0, 20, args.side * 3 // 4, args.side)
    layout = voc.VOCLayout(tmp)
    ids = voc.read_list(tmp, "train_aug")[:args.images]
    fake_scores(np.random.default_rng(0), tmp, ids, layout)
    rel = os.path.join(tmp, "release")
    for d in ("raw", "crf"):
        os.makedirs(os.path.join(rel, d), exist_ok=True)
    res = {"benchmark": "seeds", "images": len(ids), "max_side": args.side, "workers": args.workers}
    res["release_raw_s"] = timed(lambda: [release_style(i, layout, os.path.join(tmp, "scores"), rel, False)
                                          for i in ids])
    res["release_crf_s"] = timed(lambda: [release_style(i, layout, os.path.join(tmp, "scores"), rel, True)
                                          for i in ids])
    ok = True
    for tag, variants in (("raw", ["raw"]), ("crf", ["raw", "crf"])):
        for w in (1, args.workers):
            out = os.path.join(tmp, f"ours_{tag}_{w}")
            vs = [seeds.parse_variant(v, "icd_td") for v in variants]
            job = seeds.SeedJob(layout, os.path.join(tmp, "scores"), out, vs, SeedConfig())
            res[f"ours_{tag}_w{w}_s"] = timed(lambda: seeds.generate_seeds(job, ids, w, progress=False))
            for v in variants:
                ok &= same(os.path.join(out, v), os.path.join(rel, v), ids)
    n = len(ids)
    for tag in ("raw", "crf"):
        res[f"release_{tag}_img_per_s"] = n / res[f"release_{tag}_s"]
        for w in sorted({1, args.workers}):
            res[f"ours_{tag}_w{w}_img_per_s"] = n / res[f"ours_{tag}_w{w}_s"]
            res[f"speedup_{tag}_w{w}"] = res[f"release_{tag}_s"] / res[f"ours_{tag}_w{w}_s"]
    res["identical_output"] = bool(ok)
    res["note"] = "ours also writes a colour preview per seed; the CRF (pydensecrf inference) dominates both"
    print(json.dumps(res))


if __name__ == "__main__":
    main()
