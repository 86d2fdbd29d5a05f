"""Training-step throughput: ICD vs the CAM-only baseline (same backbone and shape).

Prints JSON: img/s and seconds per step of each and their time ratio (target
ICD <= 1.05 x CAM) and the process's peak resident memory (ru_maxrss, MiB).
The default TD structure c adds fc6_ft/fc7_ft, about as much convolution as fc6/fc7,
so ``icd_td_a`` (no extra convolutions) is timed too.
Also a lower-bound estimate of a release-style step, whose graph has five Python
operators: our step plus four extra Python-op round trips on the score tensor
(measured with a pass-through CustomOp; the release's numpy arithmetic inside
them would add more).

    python benchmarks/bench_train_step.py --size 161 --batch 4 --width 0.25
"""
import argparse
import json
import os
import resource
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv=None):
    p = argparse.ArgumentParser(description="ICD vs CAM-only training step throughput")
    p.add_argument("--size", type=int, default=161, help="crop size")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--width", type=float, default=0.25, help="VGG16 width multiplier")
    p.add_argument("--iters", type=int, default=10, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import mxnet as mx
    import numpy as np
    from mxnet import autograd, gluon

    from icd_mx.config import ModelConfig
    from icd_mx.nn import ICDNet

    rng = np.random.RandomState(0)
    img = mx.nd.array(rng.uniform(0, 255, (args.batch, 3, args.size, args.size)))
    sp = mx.nd.array(rng.randint(0, 64, (args.batch, args.size, args.size)))
    y = np.zeros((args.batch, 20), np.float32)
    y[np.arange(args.batch), rng.randint(0, 20, args.batch)] = 1
    y = mx.nd.array(y)

    def make(mode, **kw):
        net = ICDNet(ModelConfig(mode=mode, width=args.width, **kw))
        net.initialize()
        net.hybridize()
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1e-3, "momentum": 0.9, "wd": 5e-4})
        return net, trainer

    def one_step(net, trainer, i):
        step = SimpleNamespace(epoch=0, iteration=i, iters_per_epoch=100, reduce=None)
        mx.nd.waitall()
        t = time.perf_counter()
        with autograd.record():
            losses, _ = net.forward_train([(img, sp, y)], step)
        autograd.backward(losses)
        trainer.step(args.batch)
        mx.nd.waitall()
        return time.perf_counter() - t

    # icd_td_a: TD structure a (no fc6_ft/fc7_ft convolutions) isolates the cost of the ICD
    # machinery (BN, BU, sign flip, refinement, losses) from the TD branch's extra convolutions
    models = {"cam": make("cam"), "icd": make("icd"), "icd_td_a": make("icd", td_structure="a")}
    times = {k: [] for k in models}
    for i in range(args.warmup + args.iters):  # interleaved, so load from other processes hits both alike
        for mode, (net, trainer) in models.items():
            dt = one_step(net, trainer, i)
            if i >= args.warmup:
                times[mode].append(dt)
    cam_s, icd_s, icd_a_s = (float(np.median(times[k])) for k in ("cam", "icd", "icd_td_a"))
    net = models["icd"][0]
    h = net.infer(img[:1], sp[:1])["cam"].shape[-1]
    python_op_s = passthrough_cost(mx, (args.batch, 20, h, h), args.iters)
    release_s = icd_s + 4 * python_op_s
    print(json.dumps({
        "size": args.size, "batch": args.batch, "width": args.width, "threads": int(os.environ["OMP_NUM_THREADS"]),
        "cam_step_s": round(cam_s, 4), "icd_step_s": round(icd_s, 4),
        "cam_img_per_s": round(args.batch / cam_s, 2), "icd_img_per_s": round(args.batch / icd_s, 2),
        "icd_over_cam_time": round(icd_s / cam_s, 4), "target_icd_over_cam": 1.05,
        "icd_td_a_step_s": round(icd_a_s, 4), "icd_td_a_over_cam_time": round(icd_a_s / cam_s, 4),
        "python_op_roundtrip_s": round(python_op_s, 5),
        "release_style_step_s_lower_bound": round(release_s, 4),
        "speedup_vs_release_lower_bound": round(release_s / icd_s, 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }, indent=2))


def peak_rss_mib():
    """Peak resident memory of this process (all three models), MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


def passthrough_cost(mx, shape, iters):
    """Seconds of one forward+backward of a pass-through Python CustomOp on ``shape``."""

    class Pass(mx.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], mx.nd.array(in_data[0].asnumpy() * 1.0))

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], mx.nd.array(out_grad[0].asnumpy() * 1.0))

    @mx.operator.register("bench_passthrough")
    class PassProp(mx.operator.CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=True)

        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return Pass()

    x = mx.nd.random.uniform(shape=shape)
    x.attach_grad()
    times = []
    for _ in range(iters + 2):
        mx.nd.waitall()
        t = time.perf_counter()
        with mx.autograd.record():
            out = mx.nd.Custom(x, op_type="bench_passthrough")
        out.backward()
        mx.nd.waitall()
        times.append(time.perf_counter() - t)
    return sorted(times[2:])[len(times[2:]) // 2]


if __name__ == "__main__":
    main()
