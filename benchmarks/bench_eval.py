"""Score-map evaluation (Table 2 sweep + Table 1 pixel mAP): seconds per image and score kind.

Writes a temporary VOC-like layout of ``--images`` images at VOC's sizes (500x375 and
375x500; random masks with 1-3 classes, their XML and ``--kinds`` score kinds at 65x65),
then times :func:`icd_mx.metrics.evaluate_score_kinds` (every kind in one pass over the
images, with ``--workers`` processes and with one) against the previous implementation,
one ``evaluate_scores`` call per kind of the package at git revision BASELINE, unpacked
into a scratch folder and run in its own interpreter (``--baseline``; skipped outside a git
checkout). The runs
alternate (``--reps`` rounds; the fastest round of each counts), so load from other
processes hits both alike. Checks the results are identical and prints JSON: seconds per
image and kind of each, and the ratios.

    python benchmarks/bench_eval.py
    python benchmarks/bench_eval.py --images 40 --kinds 4 --workers 2
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BASELINE = "d7cf012"  # the last commit of the per-kind, per-threshold evaluation


def parse(argv=None):
    p = argparse.ArgumentParser(description="evaluation seconds per image and score kind, against the previous one")
    p.add_argument("--images", type=int, default=160)
    p.add_argument("--kinds", type=int, default=4, help="score kinds (cam, icd_bu, icd_bu_sp, icd_td)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--reps", type=int, default=2, help="alternating rounds")
    p.add_argument("--baseline", default=BASELINE, help="git revision of the previous implementation ('' skips)")
    return p.parse_args(argv)


def write_layout(root, n_images, n_kinds, seed=0):
    """A VOC-like folder: JPEGImages, Annotations, SegmentationClassAug, scores/<kind>/."""
    from PIL import Image

    from icd_mx.data.voc import CLASSES, VOCLayout

    rng = np.random.RandomState(seed)
    for d in ("JPEGImages", "Annotations", "SegmentationClassAug"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    kinds = [f"kind{k}" for k in range(n_kinds)]
    for k in kinds:
        os.makedirs(os.path.join(root, "scores", k), exist_ok=True)
    ids = []
    for i in range(n_images):
        id_ = f"img{i:05d}"
        h, w = (375, 500) if i % 2 else (500, 375)
        classes = sorted(rng.choice(20, rng.randint(1, 4), replace=False))
        Image.fromarray(rng.randint(0, 255, (h, w, 3), dtype=np.uint8)).save(f"{root}/JPEGImages/{id_}.jpg")
        mask = np.zeros((h, w), np.uint8)
        for c in classes:
            y0, x0 = rng.randint(0, h // 2), rng.randint(0, w // 2)
            mask[y0:y0 + rng.randint(40, h // 2), x0:x0 + rng.randint(40, w // 2)] = c + 1
        mask[rng.rand(h, w) < 0.03] = 255
        Image.fromarray(mask).save(f"{root}/SegmentationClassAug/{id_}.png")
        objects = "".join(f"<object><name>{CLASSES[c]}</name><difficult>0</difficult></object>" for c in classes)
        with open(f"{root}/Annotations/{id_}.xml", "w") as f:
            f.write(f"<annotation>{objects}</annotation>")
        for k in kinds:
            np.save(f"{root}/scores/{k}/{id_}.npy", rng.randn(len(classes), 65, 65).astype(np.float32))
        ids.append(id_)
    return VOCLayout(root), ids, {k: os.path.join(root, "scores", k) for k in kinds}


_PREVIOUS = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from icd_mx import metrics
from icd_mx.data.voc import VOCLayout
root, ids, dirs, reps = sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4]), int(sys.argv[5])
layout, best = VOCLayout(root), None
for _ in range(reps):
    t = time.perf_counter()
    out = {k: metrics.evaluate_scores(layout, ids, d) for k, d in dirs.items()}
    best = min(best or 1e9, time.perf_counter() - t)
print(json.dumps({"seconds": best, "out": out}))
"""


def previous_run(rev, root, ids, dirs, reps):
    """Time ``evaluate_scores`` per kind of the package at git revision ``rev`` (unpacked
    with ``git archive`` into a scratch folder, run in its own interpreter so that none of
    today's modules mix in); ``(seconds of the fastest round, results)`` or None outside a
    git checkout."""
    with tempfile.TemporaryDirectory() as tree:
        try:
            archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "icd_mx"], capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        except (OSError, subprocess.CalledProcessError):
            return None
        env = dict(os.environ, PYTHONPATH=tree)
        done = subprocess.run([sys.executable, "-c", _PREVIOUS, tree, root, json.dumps(ids), json.dumps(dirs),
                               str(reps)], capture_output=True, text=True, check=True, cwd=tree, env=env)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    return r["seconds"], r["out"]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv=None):
    args = parse(argv)
    from icd_mx import metrics

    with tempfile.TemporaryDirectory() as tmp:
        layout, ids, dirs = write_layout(tmp, args.images, args.kinds)
        per = float(len(ids) * len(dirs))
        runs = {"new_1": lambda: metrics.evaluate_score_kinds(layout, ids, dirs, workers=1),
                "new_n": lambda: metrics.evaluate_score_kinds(layout, ids, dirs, workers=args.workers)}
        out, best, prev = {}, {}, None
        for _ in range(args.reps):  # alternating rounds: load from other processes hits both alike
            for name, fn in runs.items():
                out[name], dt = timed(fn)
                best[name] = min(best.get(name, dt), dt)
            if args.baseline:
                prev = previous_run(args.baseline, tmp, ids, dirs, 1)
                if prev is not None:
                    best["old"] = min(best.get("old", prev[0]), prev[0])
                    out["old"] = prev[1]
        t_1, t_n = best["new_1"], best["new_n"]
        result = {"benchmark": "eval_scores", "images": len(ids), "kinds": len(dirs), "workers": args.workers,
                  "cpus": os.cpu_count(), "load_avg": [round(v, 2) for v in os.getloadavg()],
                  "new_1_worker_s_per_image_kind": round(t_1 / per, 5),
                  f"new_{args.workers}_workers_s_per_image_kind": round(t_n / per, 5),
                  "identical_across_workers": out["new_1"] == out["new_n"]}
        if prev is not None:
            t_old = best["old"]
            result.update(baseline=args.baseline, previous_s_per_image_kind=round(t_old / per, 5),
                          speedup_1_worker=round(t_old / t_1, 2), speedup_workers=round(t_old / t_n, 2),
                          identical_to_previous=out["old"] == json.loads(json.dumps(out["new_1"])))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
