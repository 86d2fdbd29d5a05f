"""A tiny regression task for the engine tests (and the dist_sync worker script).

Net: Dense(4 -> 6, tanh) -> Dense(6 -> 1); the head has ``lr_mult = 10`` and every
bias ``wd_mult = 0`` (the ICD rules on a small scale). The task keeps a global moving
state updated through ``step.reduce`` like the sign-flip state.

Run as a script (``python engine_toy.py RUN_DIR EPOCHS``) it trains under
``dist_sync`` as one worker of a job started by tools/launch_dist.py.
"""
import os
import sys

import numpy as np

IN, HIDDEN, N = 4, 6, 32


def make_data(seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, (N, IN)).astype(np.float32)
    y = (x @ rng.uniform(-1, 1, (IN, 1)) + 0.1).astype(np.float32)
    return x, y


def make_net(seed=0):
    import mxnet as mx
    from mxnet import gluon

    net = gluon.nn.HybridSequential(prefix="toy_")
    with net.name_scope():
        net.add(gluon.nn.Dense(HIDDEN, in_units=IN, activation="tanh"))
        net.add(gluon.nn.Dense(1, in_units=HIDDEN))
    mx.random.seed(seed)
    net.initialize(mx.init.Uniform(0.5), ctx=mx.cpu())
    for p in net[1].collect_params().values():
        p.lr_mult = 10.0
    for name, p in net.collect_params().items():
        if name.endswith("_bias"):
            p.wd_mult = 0.0
    return net


class ToyTask:
    """Regression with a sum-over-samples squared loss.

    Parameters
    ----------
    nan_at : (int, int) or None
        ``(epoch, iteration in epoch)`` from which the loss is NaN.
    kill_at : (int, int) or None
        Raise KeyboardInterrupt at that step (a simulated kill).
    """

    def __init__(self, seed=0, nan_at=None, kill_at=None, init_seed=None):
        import mxnet as mx

        self.seed = seed
        self.x, self.y = make_data(seed)
        self.net = make_net(seed if init_seed is None else init_seed)
        self.state = mx.nd.zeros((IN,))
        self.nan_at, self.kill_at = nan_at, kill_at
        self.lrs = []

    def train_loader(self, epoch, batch_size, shard=(0, 1)):
        from icd_mx.engine import shard_batches

        idx = shard_batches(N, batch_size, epoch, self.seed, shard)
        return [(self.x[i], self.y[i]) for i in idx]

    def forward_train(self, ctx_batches, step):
        import mxnet as mx

        at = (step.epoch, step.iteration - step.epoch * step.iters_per_epoch)
        if self.kill_at is not None and at == tuple(self.kill_at):
            raise KeyboardInterrupt("simulated kill")
        if not self.lrs or self.lrs[-1] != (step.epoch, step.lr):
            self.lrs.append((step.epoch, step.lr))
        total = step.reduce([x.sum(axis=0) for x, _ in ctx_batches])
        self.state = 0.9 * self.state + 0.1 * total.as_in_context(self.state.context)
        losses, errs = [], []
        for x, y in ctx_batches:
            err = (self.net(x) - y) ** 2
            if self.nan_at is not None and at >= tuple(self.nan_at):
                err = err * float("nan")
            losses.append(err.sum())
            errs.append(err.mean())
        # "loss" repeats the engine's column (never logged twice); "lr" clashes with one (task_lr)
        return losses, {"mse": errs, "lr": mx.nd.array([step.lr]), "loss": errs}

    def state_dict(self):
        return {"state": self.state.asnumpy().tolist()}

    def load_state_dict(self, d):
        import mxnet as mx

        if "state" in d:
            self.state = mx.nd.array(d["state"])


def params_of(net):
    """``{structural name: numpy array}``."""
    return {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}


class Opt:
    """A TrainConfig-like options object."""

    def __init__(self, **kw):
        self.batch_size, self.epochs, self.lr, self.lr_power = 8, 2, 0.05, 0.9
        self.momentum, self.wd, self.seed, self.log_interval, self.max_iters_per_epoch = 0.9, 5e-4, 0, 2, 0
        self.__dict__.update(kw)


def main(argv):
    """Train one dist_sync worker: ``engine_toy.py RUN_DIR EPOCHS``.

    Each worker initialises its net from its own pid (so the workers start apart, as
    unseeded workers would); fit must start every worker from rank 0's weights.
    """
    import mxnet as mx

    from icd_mx.engine import fit

    run_dir, epochs = argv[0], int(argv[1])
    task = ToyTask(init_seed=os.getpid())
    init = os.path.join(run_dir, f"init-{os.getpid()}.params")
    task.net.save_parameters(init)
    out = fit(task, Opt(epochs=epochs), run_dir, [mx.cpu()], kvstore="dist_sync", resume=False)
    os.replace(init, os.path.join(run_dir, f"worker{out['rank']}-init.params"))
    task.net.save_parameters(os.path.join(run_dir, f"worker{out['rank']}.params"))
    np.save(os.path.join(run_dir, f"worker{out['rank']}-state.npy"), task.state.asnumpy())
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    sys.exit(main(sys.argv[1:]))
