#!/usr/bin/env python
"""Superpixel merging: seconds per image, incremental (ours) vs the release-style loop,
identical merges checked; the region means (``region_features``): seconds per image and
how far they raise the process's peak memory (VmHWM, Linux); and the stage end to end
(``--e2e-images``, 0 skips): :func:`icd_mx.superpixels.make_superpixels_batch` on VOC-sized
photos with the VGG16 conv5_3 features at full width on the CPU (a randomly initialised
backbone saved and loaded as a parameter file: the time does not depend on the weights),
split into features, FH and merging, beside the same features with the release-style merge
loop. Prints JSON (one line per part).

    python benchmarks/bench_superpixels.py --images 1 --size 375x500 --channels 512
    python benchmarks/bench_superpixels.py --images 0 --e2e-images 4 --batch 2
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("OMP_NUM_THREADS", "2")  # the feature net's threads (reported)

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
    ap.add_argument("--e2e-images", type=int, default=2, help="photos for the end-to-end figure (0: skip)")
    ap.add_argument("--batch", type=int, default=1, help="images per feature-net batch (superpixels.batch_size)")
    args = ap.parse_args()
    if args.images:
        merge_figures(args)
    if args.e2e_images:
        end_to_end(args)


def end_to_end(args):
    """Seconds per photo of the superpixel stage's work (read and write excluded), by part."""
    import tempfile

    import mxnet as mx

    from icd_mx.compat.release import export_init
    from icd_mx.config import ModelConfig, SuperpixelConfig
    from icd_mx.nn.icd import ICDNet

    h, w = map(int, args.size.split("x"))
    rng = np.random.default_rng(1)
    photos = [synthetic(rng, h, w, 1)[0] if i % 2 == 0 else synthetic(rng, w, h, 1)[0]
              for i in range(args.e2e_images)]
    cfg = SuperpixelConfig()
    with tempfile.TemporaryDirectory() as tmp:
        net = ICDNet(ModelConfig(width=1.0))
        net.initialize()
        for p in net.collect_params().values():  # concrete shapes: full width, no deferred init
            p.set_data(mx.nd.random.normal(0, 0.01, p.shape))
        params = os.path.join(tmp, "vgg.params")
        export_init(net, params)  # the 20M init's format, which VGGFeatures reads
        features = S.VGGFeatures(params, width=1.0, size=cfg.feature_size)
        features.batch([photos[0]])  # load and warm the net (not timed)
        t = {"features": 0.0, "fh": 0.0, "merge": 0.0, "merge_release_loop": 0.0, "end_to_end": 0.0}
        identical = True
        for i in range(0, len(photos), args.batch):
            batch = photos[i:i + args.batch]
            t0 = time.perf_counter()
            out = S.make_superpixels_batch(batch, features, cfg)
            t["end_to_end"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            fmaps = features.batch(batch)
            t["features"] += time.perf_counter() - t0
            for img, fmap, sp_out in zip(batch, fmaps, out):
                t0 = time.perf_counter()
                sp = S.fh_segment(img, cfg.sigma, cfg.k, cfg.min_size)
                t1 = time.perf_counter()
                merged = S.merge_superpixels(sp, fmap, cfg.max_regions, cfg.adjacent_only)
                t2 = time.perf_counter()
                feats, sizes = S.region_features(sp, fmap)
                ref = S.merge_reference(sp, feats, sizes, cfg.max_regions, cfg.adjacent_only)
                t3 = time.perf_counter()
                t["fh"] += t1 - t0
                t["merge"] += t2 - t1
                t["merge_release_loop"] += t3 - t2
                identical &= bool(np.array_equal(merged, sp_out)) and bool(np.array_equal(ref, merged))
    n = float(len(photos))
    per = {k: round(v / n, 3) for k, v in t.items()}
    release_style = per["features"] + per["fh"] + per["merge_release_loop"]
    print(json.dumps({"benchmark": "superpixels_end_to_end", "photos": len(photos), "size": [h, w],
                      "feature_width": 1.0, "feature_canvas": cfg.feature_size, "batch": args.batch,
                      "omp_threads": os.environ.get("OMP_NUM_THREADS"), "device": "cpu",
                      "load_avg": [round(v, 2) for v in os.getloadavg()],
                      "s_per_photo": per, "parts_sum_s": round(per["features"] + per["fh"] + per["merge"], 3),
                      "with_release_merge_loop_s": round(release_style, 3),
                      "speedup_over_release_merge_loop": round(release_style / max(per["end_to_end"], 1e-9), 2),
                      "same_superpixels": identical}))


def merge_figures(args):
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
