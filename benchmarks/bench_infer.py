#!/usr/bin/env python
"""Inference throughput of the ICD score export, and the process's peak memory.

Times what ``tools/infer.py`` does per batch: ``ICDNet.infer`` on a padded square
canvas (random image and superpixels, every class present) and the copy of the four
score maps (``cam, icd_bu, icd_bu_sp, icd_td``) to numpy. The net is built as
``icd_mx.nn.build.build_net`` builds it (hybridized, static_alloc; random weights,
which do not change the cost). Cases: every ``--sizes`` x ``--batches``, at
``--width``, except canvases >= 513 (the VOC canvas), which run at ``--voc-width``
so the default finishes in about a minute on 2 cores. Prints JSON: img/s and
seconds per batch (median over ``--iters``) per case, the peak resident memory
(``ru_maxrss``, MiB) of the whole process after all cases, and the same after the
imports alone (the baseline of mxnet + numpy).

    python benchmarks/bench_infer.py
    python benchmarks/bench_infer.py --sizes 513 --batches 1 4 --width 1.0 --voc-width 1.0 --threads 2
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def peak_rss_mib():
    """Peak resident memory of this process, MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def parse(argv=None):
    p = argparse.ArgumentParser(description="ICD score-export inference img/s and peak memory")
    p.add_argument("--sizes", type=int, nargs="+", default=[201, 513], help="padded canvas sides (VOC: 513)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--width", type=float, default=0.25, help="VGG16 width multiplier for canvases < 513")
    p.add_argument("--voc-width", type=float, default=0.125, help="width multiplier for canvases >= 513")
    p.add_argument("--mode", default="icd", choices=("icd", "cam"))
    p.add_argument("--iters", type=int, default=15, help="timed batches per case")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS (if not already set)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import mxnet as mx
    import numpy as np

    from icd_mx.config import ModelConfig
    from icd_mx.nn.build import build_net

    rng = np.random.RandomState(0)
    ctx = [mx.cpu()]
    import_rss = peak_rss_mib()  # the libraries alone, before any net or batch
    nets, cases = {}, []
    for size in args.sizes:
        width = args.voc_width if size >= 513 else args.width
        if width not in nets:
            nets[width] = build_net(ModelConfig(mode=args.mode, width=width), ctx)
        net = nets[width]
        for batch in args.batches:
            img = mx.nd.array(rng.uniform(0, 255, (batch, 3, size, size)))
            sp = mx.nd.array(rng.randint(0, 64, (batch, size, size)))
            label = mx.nd.ones((batch, 20))
            times = []
            for i in range(args.warmup + args.iters):
                mx.nd.waitall()
                t = time.perf_counter()
                outs = net.infer(img, sp, label)
                maps = {k: v.asnumpy() for k, v in outs.items()}  # the export's copy out (waits)
                dt = time.perf_counter() - t
                if i >= args.warmup:
                    times.append(dt)
            sec = float(np.median(times))
            cases.append({"size": size, "width": width, "batch": batch, "out_side": int(maps["cam"].shape[-1]),
                          "batch_s": round(sec, 4), "img_per_s": round(batch / sec, 3)})
    print(json.dumps({
        "benchmark": "infer", "mode": args.mode, "threads": int(os.environ["OMP_NUM_THREADS"]),
        "iters": args.iters, "cases": cases,
        "peak_rss_mib": round(peak_rss_mib(), 1), "rss_after_import_mib": round(import_rss, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
