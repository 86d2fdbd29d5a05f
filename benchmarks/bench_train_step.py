"""Training-step time: ICD against the CAM-only baseline, at full width, and against the release.

Per shape (default 161x161 batch 2 and 321x321 batch 4, VGG16 width 1.0) the ICD and
CAM-only nets take interleaved steps through the engine's own ``_train_step`` (forward,
backward, SGD update; hybridized as ``icd_mx.nn.build.build_net`` does for
training: static_alloc, and static_shape as ``--static-shape``, default the
``train.static_shape`` default 1), so load from other
processes hits both alike. Prints JSON per shape: the median seconds per step, the
ratio ICD / CAM-only (the ratio of the medians and the median of the per-iteration
ratios) against the target 1.22, and the floor the extra convolutions set (ICD's
convolution multiply-adds over CAM-only's, about 1.19).

``--release PATH`` (a checkout of js-fan/ICD) also times the release's training graph,
composed from its own modules by ``icd_mx.compat.compare`` and run by ``mx.mod.Module``
on the same batch, interleaved with ours; both sides then run without Dropout, as that
graph is composed. ``--split`` times the parts of one ICD step (stage 1 graph, BU graph,
sign-flip update, stage 2 graph, backward, SGD update; each followed by a wait, so the sum exceeds
a step). ``ops_per_step`` counts the imperative operator calls and cached-graph calls
of one step (mx.profiler aggregate statistics at a small width: the count does not
depend on it) with the metrics off and on. ``--rss`` runs each model alone in a child
process and reports its peak resident memory (VmHWM), the ratio ICD / CAM-only against the
target 1.05 and a floor: CAM-only's peak plus what any ICD step must add to it (the extra
parameters' value, gradient and momentum, and the TD branch's saved activations).

    python benchmarks/bench_train_step.py
    python benchmarks/bench_train_step.py --shapes 161x2 --iters 6 --release /tmp/ICD --split
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = 1.22


def parse(argv=None):
    p = argparse.ArgumentParser(description="ICD vs CAM-only (and the release's) training step time")
    p.add_argument("--shapes", nargs="+", default=["161x2", "321x4"], help="SIZExBATCH crops")
    p.add_argument("--width", type=float, default=1.0, help="VGG16 width multiplier (1.0: what users train)")
    p.add_argument("--iters", type=int, default=4, help="timed steps per model and shape")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS (if not already set)")
    p.add_argument("--dropout", type=float, default=0.5, help="ours; 0 with --release")
    p.add_argument("--release", default="", help="a checkout of js-fan/ICD: time its training graph too")
    p.add_argument("--split", action="store_true", help="time the parts of one ICD step")
    p.add_argument("--rss", action="store_true", help="peak memory of each model alone (child processes)")
    p.add_argument("--static-shape", type=int, choices=(0, 1), default=1,
                   help="train.static_shape: 1 (the default) or 0 (as fast, more memory)")
    p.add_argument("--only", default="", help=argparse.SUPPRESS)  # child of --rss: one model, one shape
    return p.parse_args(argv)


def peak_rss_mib():
    """Peak resident memory of this process, MiB: VmHWM on Linux (ru_maxrss would keep the
    parent's peak across fork and exec), else ru_maxrss (bytes on macOS)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024.0
    except (OSError, StopIteration):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def make_batch(size, batch, seed=0):
    import mxnet as mx
    import numpy as np

    rng = np.random.RandomState(seed)
    img = mx.nd.array(rng.uniform(0, 255, (batch, 3, size, size)))
    sp = mx.nd.array(rng.randint(0, 64, (batch, size, size)))
    y = np.zeros((batch, 20), np.float32)
    y[np.arange(batch), rng.randint(0, 20, batch)] = 1
    y[0, (np.flatnonzero(y[0])[0] + 1) % 20] = 1  # one image with two classes
    return img, sp, mx.nd.array(y)


class Ours:
    """One of our nets with the engine's trainer; ``step()`` is one ``_train_step``."""

    def __init__(self, mode, width, dropout, batch, log_interval=10, static_shape=True):
        import mxnet as mx

        from icd_mx.config import ModelConfig, TrainConfig
        from icd_mx.engine.trainer import make_trainer
        from icd_mx.nn import ICDNet

        mx.random.seed(0)
        self.net = net = ICDNet(ModelConfig(mode=mode, width=width, dropout=dropout))
        net.initialize()
        net.hybridize(static_alloc=True, static_shape=static_shape)  # as build_net with train.static_shape
        opt = TrainConfig(lr=1e-3, momentum=0.9, wd=5e-4, batch_size=int(batch[0].shape[0]))
        self.run = SimpleNamespace(contexts=[mx.cpu()], num_workers=1,
                                   trainer=make_trainer(net.collect_params(), opt),
                                   task=SimpleNamespace(forward_train=net.forward_train))
        self.batch, self.i, self.log_interval = batch, 0, log_interval

    def step(self, log=None):
        from icd_mx.engine.trainer import StepInfo, _train_step

        log = (self.i + 1) % self.log_interval == 0 if log is None else log
        _train_step(self.run, self.batch, StepInfo(0, self.i, 1000, None, 1e-3, log=log))
        self.i += 1


class Release:
    """The release's training graph (``icd_mx.compat.compare``) bound to the same batch."""

    def __init__(self, path, ours, batch):
        from icd_mx.compat import compare
        from icd_mx.compat.release import release_names

        rel = compare.import_release(path)
        params = {f"{kind}:{name}": p.data().copy() for name, (p, kind) in release_names(ours.net).items()}
        self.mod = compare.release_module(rel, compare.release_symbol(rel, True), batch, params, True)
        self.data = compare.release_batch(rel, batch)

    def step(self, log=None):
        self.mod.forward_backward(self.data)
        self.mod.update()


def timed(model):
    import mxnet as mx

    mx.nd.waitall()
    t = time.perf_counter()
    model.step()
    mx.nd.waitall()
    return time.perf_counter() - t


def conv_macs(model_cfg, size, batch):
    """Multiply-adds of every convolution of the inference graph (the training graph's
    forward; its backward costs about twice that, for both nets alike)."""
    from icd_mx.nn.icd import inference_symbol

    sym = inference_symbol(model_cfg)
    shapes = {"data": (batch, 3, size, size), "sp": (batch, size, size), "label": (batch, 20)}
    shapes = {k: v for k, v in shapes.items() if k in sym.list_arguments()}
    internals = sym.get_internals()
    out_shapes = dict(zip(internals.list_outputs(), internals.infer_shape(**shapes)[1]))
    nodes = json.loads(sym.tojson())["nodes"]
    total = 0
    for node in nodes:
        if node["op"] == "Convolution":
            src = nodes[node["inputs"][0][0]]
            c_in = out_shapes[f"{src['name']}_output"][1] if src["op"] != "null" else shapes["data"][1]
            n, c_out, h, w = out_shapes[node["name"] + "_output"]
            k = [int(v) for v in node["attrs"]["kernel"].strip("()").split(",")]
            total += n * h * w * c_out * c_in * k[0] * k[1]
    return total


def rss_floor_extra_mib(width, size, batch):
    """A lower bound (MiB) on the memory an ICD step needs beyond the CAM-only step's: the
    extra parameters' value, gradient and momentum (float32), and the activations the TD
    branch's backward must keep (the inputs of fc6_ft, fc7_ft and conv_ft: the BN'd conv5,
    fc6_ft and fc7_ft after ReLU, at stride 8). The default model (TD structure c)."""
    import mxnet as mx

    from icd_mx.config import ModelConfig
    from icd_mx.nn import ICDNet

    counts = {}
    for mode in ("cam", "icd"):
        net = ICDNet(ModelConfig(mode=mode, width=width))
        net.initialize(ctx=mx.cpu())
        counts[mode] = sum(p.data().size for p in net.collect_params().values() if p.grad_req != "null")
    ch = net.ch
    h = size
    for _ in range(3):  # pool1-3: 3x3, stride 2, pad 1
        h = (h - 1) // 2 + 1
    saved = batch * h * h * (ch["conv5"] + ch["fc6"] + ch["fc7"])
    return (3 * (counts["icd"] - counts["cam"]) + saved) * 4 / 2.0 ** 20


def split_step(model):
    """Seconds of each part of one ICD step, each part followed by ``waitall``."""
    import mxnet as mx
    from mxnet import autograd

    from icd_mx.engine.trainer import StepInfo

    net, (img, sp, label) = model.net, model.batch
    stages, out, t = net._train_stages(), {}, time.perf_counter()

    def lap(name):
        nonlocal t
        mx.nd.waitall()
        now = time.perf_counter()
        out[name] = round(now - t, 4)
        t = now

    step = StepInfo(0, model.i, 1000, None, 1e-3, log=False)
    with autograd.record():
        first = stages[0](img, label)
        lap("stage1_graph")
        s_hat, stats, feat = stages[1](first[3], first[2], label)
        p = {"loss_cam": first[1], "s_hat": s_hat, "stats": stats, "td_in": net._td_input(feat, first[-1])}
        lap("bu_graph")
        sign = net._signs([p], step)[0]
        lap("signflip_update")
        w = mx.nd.full((1,), 1.0)
        loss = stages[2](p["loss_cam"], p["s_hat"], sign, sp, label, p["td_in"], w)[0]
        lap("stage2_graph")
    autograd.backward([loss])
    lap("backward")
    model.run.trainer.step(int(img.shape[0]))
    lap("sgd_update")
    model.i += 1
    return out


def ops_per_step(mode, log):
    """Imperative operator calls and cached-graph calls of one engine step (profiler counts)."""
    import mxnet as mx

    model = Ours(mode, 1 / 16, 0.5, make_batch(33, 2))
    for _ in range(2):
        model.step(True)
    mx.nd.waitall()
    n = 3
    # a scratch trace file: MXNet replaces its target with a regular file, so never os.devnull
    with tempfile.TemporaryDirectory() as tmp:
        mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename=os.path.join(tmp, "profile.json"))
        mx.profiler.set_state("run")
        for _ in range(n):
            model.step(log)
        mx.nd.waitall()
        mx.profiler.set_state("stop")
        stats = json.loads(mx.profiler.dumps(reset=True, format="json")).get("Time", {}).get("MXNET_C_API", {})
    count = {k: stats.get(k, {}).get("Count", 0) / n for k in ("MXImperativeInvokeEx", "MXInvokeCachedOpEx")}
    return {"imperative_ops": count["MXImperativeInvokeEx"], "cached_graph_calls": count["MXInvokeCachedOpEx"]}


def child_rss(args, mode, shape):
    """Peak memory (MiB) of ``mode`` training alone at ``shape``, in a child process."""
    cmd = [sys.executable, os.path.abspath(__file__), "--only", mode, "--shapes", shape, "--width", str(args.width),
           "--iters", "2", "--warmup", "1", "--dropout", str(0.0 if args.release else args.dropout),
           "--release", args.release, "--static-shape", str(args.static_shape)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["peak_rss_mib"]


def case(args, size, batch_size):
    import numpy as np

    from icd_mx.config import ModelConfig

    batch = make_batch(size, batch_size)
    dropout = 0.0 if args.release else args.dropout
    ss = bool(args.static_shape)
    models = {"cam": Ours("cam", args.width, dropout, batch, static_shape=ss),
              "icd": Ours("icd", args.width, dropout, batch, static_shape=ss)}
    if args.release:
        models["release"] = Release(args.release, models["icd"], batch)
    times = {k: [] for k in models}
    for i in range(args.warmup + args.iters):
        for name, model in models.items():
            dt = timed(model)
            if i >= args.warmup:
                times[name].append(dt)
    med = {k: float(np.median(v)) for k, v in times.items()}
    paired = [b / a for a, b in zip(times["cam"], times["icd"])]
    floor = conv_macs(ModelConfig(mode="icd", width=args.width), size, batch_size) / conv_macs(
        ModelConfig(mode="cam", width=args.width), size, batch_size)
    out = {"size": size, "batch": batch_size, "cam_step_s": round(med["cam"], 4), "icd_step_s": round(med["icd"], 4),
           "icd_img_per_s": round(batch_size / med["icd"], 3),
           "icd_over_cam": round(med["icd"] / med["cam"], 4),
           "icd_over_cam_paired_median": round(float(np.median(paired)), 4),
           "target_icd_over_cam": TARGET, "conv_floor_icd_over_cam": round(floor, 4),
           "dropout": dropout}
    if args.release:
        rel_paired = [b / a for a, b in zip(times["release"], times["icd"])]
        out.update(release_step_s=round(med["release"], 4), icd_over_release=round(med["icd"] / med["release"], 4),
                   icd_over_release_paired_median=round(float(np.median(rel_paired)), 4))
    if args.split:
        out["icd_split_s"] = split_step(models["icd"])
    return out


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import mxnet as mx  # noqa: F401 (after OMP_NUM_THREADS)

    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes]
    if args.release and args.width != 1.0:
        sys.exit("--release: the release's graph is full width only (--width 1.0)")
    if args.only:  # a --rss child: train one model alone
        batch = make_batch(*shapes[0])
        if args.only == "release":  # the release's graph on our seeded parameters, ours dropped
            import gc

            ours = Ours("icd", args.width, 0.0, batch)  # its parameters only
            model = Release(args.release, ours, batch)
            del ours
            gc.collect()
        else:
            model = Ours(args.only, args.width, args.dropout, batch, static_shape=bool(args.static_shape))
        for _ in range(args.warmup + args.iters):
            timed(model)
        print(json.dumps({"peak_rss_mib": round(peak_rss_mib(), 1)}))
        return
    load = [round(v, 2) for v in os.getloadavg()]
    result = {"benchmark": "train_step", "width": args.width, "threads": int(os.environ["OMP_NUM_THREADS"]),
              "static_shape": bool(args.static_shape),
              "iters": args.iters, "load_avg_before": load,
              "ops_per_step": {f"{mode}_{'log' if log else 'nolog'}": ops_per_step(mode, log)
                               for mode in ("cam", "icd") for log in (False, True)},
              "cases": [case(args, size, batch) for size, batch in shapes]}
    if args.rss:
        for (size, batch), c in zip(shapes, result["cases"]):
            shape = f"{size}x{batch}"
            rss = {mode: child_rss(args, mode, shape) for mode in ("cam", "icd")}
            floor = rss_floor_extra_mib(args.width, size, batch)
            c.update(cam_peak_rss_mib=rss["cam"], icd_peak_rss_mib=rss["icd"],
                     icd_over_cam_rss=round(rss["icd"] / rss["cam"], 4), target_icd_over_cam_rss=1.05,
                     floor_icd_over_cam_rss=round((rss["cam"] + floor) / rss["cam"], 4))
            if args.release:
                rss["release"] = child_rss(args, "release", shape)
                c.update(release_peak_rss_mib=rss["release"],
                         icd_over_release_rss=round(rss["icd"] / rss["release"], 4))
    result["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
