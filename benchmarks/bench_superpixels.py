#!/usr/bin/env python
"""Superpixel merging: seconds per image, incremental (ours) vs the release-style loop,
identical merges checked; and the region means (``region_features``): seconds per image and
how far they raise the process's peak memory (VmHWM, Linux). Prints JSON.

    python benchmarks/bench_superpixels.py --images 1 --size 375x500 --channels 512
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from icd_mx import superpixels as S  # noqa: E402


def synthetic(rng, h, w, c):
    """A textured image (many FH regions) and smooth random 'conv5_3-like' features."""
    img = cv2.resize((rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    small = np.maximum(rng.standard_normal((h // 8 + 1, w // 8 + 1, c)), 0).astype(np.float32)
    feats = np.stack([cv2.resize(small[..., i], (w, h)) for i in range(c)])
    return img, feats


def peak_mib():
    """VmHWM of this process in MiB (None where /proc is absent)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024.0
    except (OSError, StopIteration):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--size", default="375x500", help="HxW (a typical VOC image)")
    ap.add_argument("--channels", type=int, default=512)
    ap.add_argument("--adjacent-only", action="store_true")
    args = ap.parse_args()
    h, w = map(int, args.size.split("x"))
    rng = np.random.default_rng(0)
    t_ref = t_fast = t_feat = 0.0
    identical, regions, growth = True, [], 0.0
    for _ in range(args.images):
        img, fmap = synthetic(rng, h, w, args.channels)
        sp = S.fh_segment(img)
        before, t0 = peak_mib(), time.perf_counter()
        feats, sizes = S.region_features(sp, fmap)
        t_feat += time.perf_counter() - t0
        if before is not None:
            growth = max(growth, peak_mib() - before)
        regions.append(int(sp.max()) + 1)
        t0 = time.perf_counter()
        ref = S.merge_reference(sp, feats, sizes, 64, args.adjacent_only)
        t1 = time.perf_counter()
        fast = S.merge_fast(sp, feats, sizes, 64, args.adjacent_only)
        t2 = time.perf_counter()
        t_ref += t1 - t0
        t_fast += t2 - t1
        identical &= bool(np.array_equal(ref, fast))
    print(json.dumps({"benchmark": "superpixel_merge", "images": args.images, "size": [h, w],
                      "channels": args.channels, "fh_regions": regions, "adjacent_only": args.adjacent_only,
                      "release_loop_s_per_image": t_ref / args.images, "fast_s_per_image": t_fast / args.images,
                      "speedup": t_ref / max(t_fast, 1e-9), "identical_merges": identical,
                      "region_features_s_per_image": t_feat / args.images,
                      "region_features_peak_growth_mib": round(growth, 1),
                      "feature_map_mib": round(fmap.nbytes / 2 ** 20, 1)}))


if __name__ == "__main__":
    main()
