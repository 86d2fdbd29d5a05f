#!/usr/bin/env python
"""FH superpixels: seconds per image, ours (icd_mx.fh, the release's partitions) against
scikit-image's ``felzenszwalb`` and, when ``ICD_MX_FH_RELEASE`` names a built release
``makeSuperpixel``, against it (identical partitions counted). Prints JSON.

    python benchmarks/bench_fh.py --images 3 --size 375x500
    ICD_MX_FH_RELEASE=/path/to/makeSuperpixel python benchmarks/bench_fh.py --images 20
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

from icd_mx import fh  # noqa: E402


def natural_image(seed, h=375, w=500):
    """Photo-like statistics: multi-scale (1/f-like) noise, a few filled shapes with their own
    colour and texture, sometimes a saturated flat band, and a JPEG (q85) round trip."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for scale, amp in ((64, 90), (16, 40), (4, 15), (1, 6)):
        small = rng.standard_normal((h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.uniform(60, 190, 3)
    for _ in range(int(rng.integers(3, 8))):
        mask = np.zeros((h, w), np.uint8)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.circle(mask, (cx, cy), int(rng.integers(20, 120)), 1, -1)
        else:
            cv2.rectangle(mask, (cx, cy), (cx + int(rng.integers(20, 200)), cy + int(rng.integers(20, 200))), 1, -1)
        texture = rng.uniform(0, 25) * np.sin(np.arange(w)[None, :] * rng.uniform(0.05, 0.8)
                                              + np.arange(h)[:, None] * rng.uniform(0, 0.5))
        img[mask > 0] = (rng.uniform(0, 255, 3) + texture[..., None])[mask > 0]
    img = np.clip(img, 0, 255).astype(np.uint8)
    if seed % 4 == 1:
        img[: h // 4] = np.clip(img[: h // 4].astype(int) * 2, 0, 255)
    _, jpg = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    return np.ascontiguousarray(cv2.imdecode(jpg, cv2.IMREAD_COLOR)[:, :, ::-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--size", default="375x500", help="HxW (a typical VOC image)")
    ap.add_argument("--k", type=float, default=75.0, help="FH k (min_size = int(k), sigma 0.8, as the release)")
    args = ap.parse_args()
    from skimage.segmentation import felzenszwalb

    h, w = map(int, args.size.split("x"))
    images = [natural_image(s, h, w) for s in range(args.images)]
    ours, t_ours, t_sk = [], 0.0, 0.0
    for img in images:
        t0 = time.perf_counter()
        ours.append(fh.fh_segment(img, 0.8, args.k, int(args.k)))
        t1 = time.perf_counter()
        felzenszwalb(img, scale=args.k, sigma=0.8, min_size=int(args.k), channel_axis=-1)
        t_sk += time.perf_counter() - t1
        t_ours += t1 - t0
    n = args.images
    out = {"benchmark": "fh_superpixels", "images": n, "size": [h, w], "k": args.k,
           "extension_built": fh._fh is not None, "regions": [int(o.max()) + 1 for o in ours],
           "ours_s_per_image": t_ours / n, "skimage_s_per_image": t_sk / n, "skimage_over_ours": t_sk / t_ours}
    binary = os.environ.get("ICD_MX_FH_RELEASE")
    if binary:
        ids, seconds = fh.release_binary_segment(binary, images, args.k)
        out.update({"release_binary": binary, "release_s_per_image_incl_io": seconds / n,
                    "identical_to_release": sum(bool(np.array_equal(a, b)) for a, b in zip(ours, ids))})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
