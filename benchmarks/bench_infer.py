#!/usr/bin/env python
"""Inference throughput of the ICD score export, and the process's peak memory.

Times what ``tools/infer.py`` does per batch: ``ICDNet.infer`` on a padded square
canvas (random image and superpixels, every class present) and the copy of the four
score maps (``cam, icd_bu, icd_bu_sp, icd_td``) to numpy. The net is built as
``icd_mx.nn.build.build_net`` builds it (hybridized, static_alloc and static_shape; random
weights, which do not change the cost). Cases: every ``--sizes`` x ``--batches``, at
``--width`` (default the VOC canvas 513 at full width, batches 1 and 4). With
``--release PATH`` (a checkout of js-fan/ICD, full width) the release's inference
graph (``icd_mx.compat.compare``, run by ``mx.mod.Module``) is timed on the same
batches, interleaved. ``--scales``/``--flip`` add the multi-scale + flip export
(``infer.scales``/``infer.flip``) at batch 1: seconds per image and the ratio to one
pass. Prints JSON: img/s and seconds per batch (median over ``--iters``) per case, the
peak resident memory (``ru_maxrss``, MiB) of the whole process after all cases, and
the same after the imports alone (the baseline of mxnet + numpy).

    python benchmarks/bench_infer.py
    python benchmarks/bench_infer.py --release /tmp/ICD --scales 0.5 1.0 1.5 --flip
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
    p.add_argument("--sizes", type=int, nargs="+", default=[513], help="padded canvas sides (VOC: 513)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--width", type=float, default=1.0, help="VGG16 width multiplier")
    p.add_argument("--mode", default="icd", choices=("icd", "cam"))
    p.add_argument("--iters", type=int, default=3, help="timed batches per case")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS (if not already set)")
    p.add_argument("--release", default="", help="a checkout of js-fan/ICD: time its inference graph too")
    p.add_argument("--scales", type=float, nargs="+", default=[], help="multi-scale export case (batch 1)")
    p.add_argument("--flip", action="store_true", help="with --scales: also the mirrored canvas")
    return p.parse_args(argv)


def median_time(fn, warmup, iters):
    import numpy as np

    times = []
    for i in range(warmup + iters):
        t = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import mxnet as mx
    import numpy as np

    from icd_mx.config import ModelConfig
    from icd_mx.nn.build import build_net
    from icd_mx.stages.infer import infer_multiscale

    if args.release and (args.width != 1.0 or args.mode != "icd"):
        sys.exit("--release: the release's ICD graph is full width only (--width 1.0, --mode icd)")
    rng = np.random.RandomState(0)
    ctx = [mx.cpu()]
    import_rss = peak_rss_mib()  # the libraries alone, before any net or batch
    net = build_net(ModelConfig(mode=args.mode, width=args.width), ctx)
    net.hybridize(static_alloc=True, static_shape=True)  # as tools/infer.py, one canvas shape
    cases = []
    for size in args.sizes:
        for batch in args.batches:
            img = mx.nd.array(rng.uniform(0, 255, (batch, 3, size, size)))
            sp = mx.nd.array(rng.randint(0, 64, (batch, size, size)))
            label = mx.nd.ones((batch, 20))
            runs = {"ours": lambda: [v.asnumpy() for v in net.infer(img, sp, label).values()]}
            if args.release:
                runs["release"] = release_runner(args.release, net, (img, sp, label))
            times = {k: [] for k in runs}
            for i in range(args.warmup + args.iters):  # interleaved
                for name, fn in runs.items():
                    t = time.perf_counter()
                    fn()  # the copy out to numpy waits for the maps
                    if i >= args.warmup:
                        times[name].append(time.perf_counter() - t)
            sec = {k: float(np.median(v)) for k, v in times.items()}
            case = {"size": size, "width": args.width, "batch": batch, "batch_s": round(sec["ours"], 4),
                    "img_per_s": round(batch / sec["ours"], 3)}
            if args.release:
                case.update(release_batch_s=round(sec["release"], 4),
                            release_img_per_s=round(batch / sec["release"], 3),
                            speed_over_release=round(sec["release"] / sec["ours"], 3))
            cases.append(case)
    result = {"benchmark": "infer", "mode": args.mode, "threads": int(os.environ["OMP_NUM_THREADS"]),
              "iters": args.iters, "load_avg": [round(v, 2) for v in os.getloadavg()], "cases": cases}
    if args.scales:
        size = args.sizes[0]
        img = mx.nd.array(rng.uniform(0, 255, (1, 3, size, size)))
        sp = mx.nd.array(rng.randint(0, 64, (1, size, size)))
        label = mx.nd.ones((1, 20))
        one = median_time(lambda: [v.asnumpy() for v in net.infer(img, sp, label).values()], 1, args.iters)
        net.hybridize(static_alloc=True)  # several canvas shapes

        def passes():
            return [v.asnumpy() for v in infer_multiscale(net, img, sp, label, args.scales, args.flip).values()]

        multi = median_time(passes, 1, args.iters)
        result["multiscale"] = {"size": size, "scales": args.scales, "flip": args.flip,
                                "one_pass_s_per_image": round(one, 4), "multiscale_s_per_image": round(multi, 4),
                                "cost_ratio": round(multi / one, 3)}
    result.update(peak_rss_mib=round(peak_rss_mib(), 1), rss_after_import_mib=round(import_rss, 1))
    print(json.dumps(result, indent=2))


def release_runner(path, net, batch):
    """One forward of the release's inference graph (Module) on ``batch``, maps copied out."""
    from icd_mx.compat import compare
    from icd_mx.compat.release import release_names

    rel = compare.import_release(path)
    params = {f"{kind}:{name}": p.data().copy() for name, (p, kind) in release_names(net).items()}
    mod = compare.release_module(rel, compare.release_symbol(rel, False), batch, params, False)
    data = compare.release_batch(rel, batch)

    def run():
        mod.forward(data, is_train=False)
        return [o.asnumpy() for o in mod.get_outputs()]

    return run


if __name__ == "__main__":
    main()
