"""A task-agnostic training engine: devices, kvstore, SGD rules, schedule, checkpoints.

The optimisation is the release's (docs/method.md, "Optimisation"): SGD with
momentum, weight decay, per-Parameter ``lr_mult``/``wd_mult`` (the task sets them),
a poly schedule stepped once per epoch, ``lr_e = lr * (1 - e/E) ** lr_power``, set by
hand at each epoch start (``PolyScheduler`` counts updates, docs/method.md "MXNet conventions"), and
gradients averaged over the global batch.

A *task* (see :class:`Task`) owns the network, the data and the loss; :func:`fit`
owns everything else. The ICD trainer and the DeepLab trainer are two tasks.

NaN/Inf granularity: the loss is read (one scalar, already needed for the log) every
``log_interval`` iterations and at the end of each epoch, before its checkpoint is
written. A non-finite loss raises :class:`NonFiniteLossError` at most
``log_interval - 1`` iterations after it appeared and no checkpoint of that epoch is
ever written, so the last good checkpoint stays the newest. Checking every iteration
would force a device sync per step and stall MXNet's asynchronous pipeline.
"""
import contextlib
import dataclasses
import inspect
import os
import random
import time
import typing

from ..errors import InputError
from ..io import remove_stale_temps
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .distributed import Reducer, barrier, create_kvstore, is_dist, worker_info
from .logger import RunLogger, run_log

EXIT_NONFINITE = 3  # exit code tools use for NonFiniteLossError


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or Inf; the message is one line.

    ``icd_mx.commands.run_main`` prints it as ``error: ...`` and exits with :data:`EXIT_NONFINITE`.
    """

    exit_code = EXIT_NONFINITE


def get_contexts(gpus, key="train.gpus"):
    """Contexts from config: ``[]`` -> ``[mx.cpu()]``, ``[0, 1]`` -> ``[mx.gpu(0), mx.gpu(1)]``.

    GPUs that the MXNet build or the machine lacks are refused in one line naming ``key``
    (:func:`icd_mx.env.require_gpus`)."""
    import mxnet as mx

    from ..env import require_gpus

    require_gpus(gpus, key)
    return [mx.gpu(int(i)) for i in gpus] if gpus else [mx.cpu()]


def poly_lr(base, epoch, epochs, power):
    """The per-epoch poly rate ``base * (1 - epoch / epochs) ** power``."""
    return base * (1.0 - epoch / float(epochs)) ** power


@dataclasses.dataclass
class StepInfo:
    """What a task's ``forward_train`` knows about the current step.

    Attributes
    ----------
    epoch : int
        0-based epoch.
    iteration : int
        Global 0-based iteration (all epochs before this one included).
    iters_per_epoch : int
    reduce : callable
        ``reduce([NDArray per context]) -> NDArray``: the sum over all contexts and all
        workers, on the first context, outside autograd (:class:`distributed.Reducer`).
    lr : float
        The base learning rate of this epoch (before ``lr_mult``).
    rank, num_workers : int
        This worker and the number of workers (0, 1 without ``dist_sync``).
    log : bool
        Whether the engine reads this step's metrics (the last iteration of a log
        interval, or of the epoch). A task may return no metrics (``{}``) on other steps
        and so spend no device work on them.
    """

    epoch: int
    iteration: int
    iters_per_epoch: int
    reduce: typing.Callable
    lr: float = 0.0
    rank: int = 0
    num_workers: int = 1
    log: bool = True


class Task(typing.Protocol):
    """What :func:`fit` needs from a task.

    ``net`` is an initialised Gluon Block (any context; fit moves it with
    ``reset_ctx``). Parameters carry their own ``lr_mult``/``wd_mult``.

    ``train_loader(epoch, batch_size, shard)`` returns an iterable of batches (tuples
    of arrays, batch axis 0) of this worker's ``batch_size = global // num_workers``
    samples, with ``shard = (rank, num_workers)``; ``len()`` gives the iterations
    (:func:`distributed.shard_batches` builds such an order). Every worker must yield
    the same number of equal-size batches. A task whose ``train_loader(epoch)`` takes
    only the epoch is accepted for single-worker runs and must batch by itself.

    ``forward_train(ctx_batches, step)`` runs inside ``autograd.record()`` with one
    tuple per context and returns ``(losses, metrics)``: one loss NDArray per context,
    the SUM over that context's samples (fit divides by the global batch), and
    ``{name: NDArray}`` (scalar, or a list per context) for the log, averaged over the
    iterations of a log interval that returned it, on this worker (a metric named ``loss``
    is the task's own copy of the engine's ``loss`` column and is not logged twice; another
    name that clashes with an engine column - epoch, iter, lr, img_s - is logged as
    ``task_<name>``). ``step.log`` is true on the iterations whose metrics the engine
    reads; a task may return ``{}`` on the others.

    ``state_dict()`` / ``load_state_dict(d)``: extra JSON state (counters, sign-flip
    state) saved in each checkpoint. Optional: ``export(prefix)`` (e.g. the release's
    format) and ``on_epoch_end(epoch, run_dir)`` (previews), called on rank 0 once the
    checkpoint's binaries are written and before its commit mark, so a committed epoch
    always has them (docs/reliability.md, "Exact resume").
    """

    net: typing.Any

    def train_loader(self, epoch, batch_size, shard=(0, 1)): ...

    def forward_train(self, ctx_batches, step): ...

    def state_dict(self): ...

    def load_state_dict(self, state): ...


def _opt_dict(opt):
    if dataclasses.is_dataclass(opt):
        return dataclasses.asdict(opt)
    return {k: v for k, v in vars(opt).items() if not k.startswith("_")}


def _seed_epoch(seed, epoch, rank):
    """Seed MXNet, NumPy and Python from ``(seed, epoch, rank)``: resume is exact
    because no generator state has to survive an epoch boundary."""
    import mxnet as mx
    import numpy as np

    s = (int(seed) * 1000003 + int(epoch) * 7919 + int(rank)) % (2 ** 31)
    mx.random.seed(s)
    np.random.seed(s)
    random.seed(s)


def _call_loader(task, epoch, batch_size, shard):
    params = inspect.signature(task.train_loader).parameters
    if "batch_size" in params or "shard" in params:
        return task.train_loader(epoch, batch_size=batch_size, shard=shard)
    if shard[1] > 1:
        raise RuntimeError("task.train_loader(epoch) cannot shard; give it batch_size and shard arguments")
    return task.train_loader(epoch)


class _Meter:
    """Sums losses and metrics on the device; reads them only when flushed.

    One device operation per iteration for the loss (a task's one-element loss is
    added as it is); a metric is averaged over the iterations that returned it.
    """

    def __init__(self):
        self.loss, self.metrics, self.counts, self.iters, self.samples = None, {}, {}, 0, 0

    def add(self, losses, metrics, samples):
        import mxnet as mx

        ctx = losses[0].context
        parts = [x.detach() if x.size == 1 else x.detach().sum() for x in losses]
        total = parts[0] if len(parts) == 1 else mx.nd.add_n(*[x.as_in_context(ctx) for x in parts])
        self.loss = total if self.loss is None else self.loss + total.reshape(self.loss.shape)
        for name, value in (metrics or {}).items():
            if isinstance(value, (list, tuple)):
                value = mx.nd.add_n(*[v.detach().mean().as_in_context(ctx) for v in value]) / len(value)
            value = value.detach().mean().as_in_context(ctx)
            self.metrics[name] = value if name not in self.metrics else self.metrics[name] + value
            self.counts[name] = self.counts.get(name, 0) + 1
        self.iters += 1
        self.samples += samples


class _Run:
    """The state of one ``fit`` call shared by its helpers."""

    def __init__(self, task, opt, run_dir, contexts, kv):
        self.task, self.opt, self.run_dir, self.contexts, self.kv = task, opt, run_dir, contexts, kv
        self.rank, self.num_workers = worker_info(kv)
        self.ckpt_dir = os.path.join(run_dir, "checkpoints")
        self.reduce = Reducer(kv)
        self.iteration, self.history, self.last = 0, [], None
        self.log = None


def make_trainer(params, opt, kv="device"):
    """The Gluon Trainer of ``opt`` (``optimizer``, ``lr``, ``wd``, ``momentum``) on ``params``;
    the Parameters' own ``lr_mult``/``wd_mult`` apply, the optimizer updates locally."""
    from mxnet import gluon

    name = getattr(opt, "optimizer", "sgd")
    settings = {"learning_rate": opt.lr, "wd": opt.wd}
    if name == "sgd":
        settings["momentum"] = opt.momentum
    return gluon.Trainer(params, name, settings, kvstore=kv, update_on_kvstore=False)


def fit(task, opt, run_dir, contexts, kvstore="device", resume=True, on_start=None):
    """Train ``task`` for ``opt.epochs`` epochs; resume from the newest checkpoint.

    Parameters
    ----------
    task : Task
    opt : TrainConfig or alike
        ``batch_size`` (global), ``epochs``, ``lr``, ``lr_power``, ``momentum``, ``wd``,
        ``seed``, ``log_interval``, ``max_iters_per_epoch`` (0: the whole loader) and
        optionally ``keep_checkpoints`` (0: all).
    run_dir : str
        Run folder: ``checkpoints/``, ``log.txt``, ``metrics.csv``, ``metrics.json``, ``curve.png``.
    contexts : list of Context
        This worker's devices (:func:`get_contexts`); each batch is split over them.
    kvstore : str
        ``device``/``local`` (one machine) or ``dist_sync`` (started by tools/launch_dist.py).
    resume : bool
        Continue after the newest complete checkpoint in ``run_dir/checkpoints``.
    on_start : callable, optional
        ``on_start(first_epoch)`` on rank 0 once the checkpoint is loaded, before any
        training (a stage saves its config there, so a refused resume leaves it as it was).

    Returns
    -------
    dict
        ``{"history": [per-epoch summaries], "iteration": int, "checkpoint": prefix or None,
        "rank": int}``.

    Raises
    ------
    NonFiniteLossError
        On a NaN/Inf loss; the newest checkpoint is the last good epoch.
    InputError
        When a checkpoint does not match the network or is unreadable.
    """
    import mxnet as mx

    contexts = list(contexts) or [mx.cpu()]
    run = _Run(task, opt, run_dir, contexts, create_kvstore(kvstore))
    if opt.batch_size % run.num_workers or opt.batch_size // run.num_workers < len(contexts):
        raise InputError("train.batch_size", f"global batch {opt.batch_size} does not split over "
                                             f"{run.num_workers} worker(s) x {len(contexts)} context(s)")
    params = task.net.collect_params()
    params.reset_ctx(contexts)
    run.trainer = make_trainer(params, opt, run.kv)
    if is_dist(run.kv):  # docs/method.md "MXNet conventions": initialise and pass a barrier before the first step
        deferred = [p.name for p in params.values() if p._deferred_init]
        if deferred:
            raise ValueError(f"dist_sync needs every Parameter initialised before fit (give in_units/in_channels "
                             f"or run one forward pass); deferred: {', '.join(deferred[:3])}")
        run.trainer._init_kvstore()
        run.trainer._init_params()
        barrier(run.kv)
    start = _resume(run) if resume else 0
    if on_start is not None and run.rank == 0:
        on_start(start)
    run.log = RunLogger(run_dir, start - 1, enabled=run.rank == 0)
    with run_log(run_dir) if run.rank == 0 else contextlib.nullcontext():  # log.txt: rank 0 only
        run.log.info(f"fit: epochs {start}..{opt.epochs - 1}, contexts {contexts}, kvstore {kvstore}, "
                     f"worker {run.rank}/{run.num_workers}, global batch {opt.batch_size}")
        run.started, run.first = time.time(), start
        for epoch in range(start, opt.epochs):
            _run_epoch(run, epoch)
    return {"history": run.history, "iteration": run.iteration, "checkpoint": run.last, "rank": run.rank}


def _resume(run):
    """Load the newest checkpoint; return the first epoch to run. The temporary files of
    a run killed while writing a checkpoint are removed first (rank 0)."""
    if run.rank == 0 and os.path.isdir(run.ckpt_dir):
        remove_stale_temps(run.ckpt_dir)
    prefix = latest_checkpoint(run.ckpt_dir)
    if prefix is None:
        return 0
    meta = load_checkpoint(prefix, run.task.net, run.trainer, run.contexts)
    run.task.load_state_dict(meta.get("task") or {})  # generators: reseeded each epoch (_seed_epoch)
    run.iteration = int(meta.get("iteration", 0))
    run.history = list(meta.get("history", []))
    run.last = prefix
    return int(meta["epoch"]) + 1


def _train_step(run, batch, step):
    from mxnet import autograd
    from mxnet.gluon.utils import split_and_load

    batch = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
    parts = [split_and_load(x, run.contexts, even_split=False) for x in batch]
    with autograd.record():
        losses, metrics = run.task.forward_train(list(zip(*parts)), step)
    autograd.backward(losses)
    samples = int(batch[0].shape[0])
    run.trainer.step(samples * run.num_workers)  # gradients are summed over workers
    return losses, metrics, samples


def _run_epoch(run, epoch):
    from tqdm import tqdm

    opt = run.opt
    lr = poly_lr(opt.lr, epoch, opt.epochs, opt.lr_power)
    run.trainer.set_learning_rate(lr)
    _seed_epoch(opt.seed, epoch, run.rank)
    loader = _call_loader(run.task, epoch, opt.batch_size // run.num_workers, (run.rank, run.num_workers))
    ipe = len(loader) if hasattr(loader, "__len__") else 0
    if getattr(opt, "max_iters_per_epoch", 0):
        ipe = min(ipe, opt.max_iters_per_epoch) if ipe else opt.max_iters_per_epoch
    if ipe <= 0:
        raise InputError("train.batch_size", f"no full batch of {opt.batch_size} in the training list (fewer "
                                             "samples than one global batch, or a loader with no len())")
    meter, rows, t0 = _Meter(), [], time.time()
    # the bar shows the running loss and gives way to the epoch's summary line (_end_epoch)
    bar = tqdm(total=ipe, desc=f"epoch {epoch}", leave=False, disable=run.rank != 0)
    for i, batch in enumerate(loader):
        if i >= ipe:
            break
        log = meter.iters + 1 == opt.log_interval or i + 1 == ipe  # the iterations _flush follows
        step = StepInfo(epoch, run.iteration, ipe, run.reduce, lr, run.rank, run.num_workers, log)
        meter.add(*_train_step(run, batch, step))
        run.iteration += 1
        bar.update(1)
        if meter.iters == opt.log_interval or i + 1 == ipe:
            rows.append(_flush(run, meter, epoch, lr, t0))
            bar.set_postfix(loss=f"{rows[-1]['loss']:.4g}", refresh=False)
            meter, t0 = _Meter(), time.time()
    bar.close()
    if meter.iters:
        rows.append(_flush(run, meter, epoch, lr, t0))
    _end_epoch(run, epoch, lr, rows)


def _flush(run, meter, epoch, lr, t0):
    """Read one interval's sums (the only device sync), check the loss, log a row."""
    import math

    loss = float(run.reduce([meter.loss]).asscalar()) / (meter.samples * run.num_workers)
    if not math.isfinite(loss):
        msg = (f"non-finite loss ({loss}) in epoch {epoch} before iteration {run.iteration}; "
               f"stopped; last good checkpoint: {run.last or 'none'}")
        run.log.info(msg)
        raise NonFiniteLossError(msg)
    row = {"epoch": epoch, "iter": run.iteration, "lr": lr, "loss": loss}
    for name, value in meter.metrics.items():  # a task metric never hides an engine column
        if name == "loss":  # the task's copy of the column above, on this worker only
            continue
        row[f"task_{name}" if name in row or name == "img_s" else name] = (float(value.asscalar())
                                                                           / meter.counts[name])
    row["img_s"] = meter.samples * run.num_workers / max(time.time() - t0, 1e-9)
    row["_iters"] = meter.iters
    run.log.row({k: v for k, v in row.items() if not k.startswith("_")})
    return row


def _end_epoch(run, epoch, lr, rows):
    """Summarise the epoch, write its checkpoint and logs (rank 0), call the task hooks."""
    iters = sum(r["_iters"] for r in rows)
    summary = {"epoch": epoch, "lr": lr, "iterations": iters}
    for key in rows[0]:
        if key not in ("epoch", "iter", "lr", "_iters"):
            have = [r for r in rows if key in r]
            summary[key] = sum(r[key] * r["_iters"] for r in have) / sum(r["_iters"] for r in have)
    run.history.append(summary)
    run.log.info(_summary_line(run, epoch, summary))
    if run.rank != 0:
        return
    meta = {"iteration": run.iteration, "task": run.task.state_dict(),
            "history": run.history, "opt": _opt_dict(run.opt)}

    def finish(prefix):  # everything of the epoch before its commit mark: a kill leaves none of it missing
        if hasattr(run.task, "export"):
            run.task.export(prefix)
        if hasattr(run.task, "on_epoch_end"):
            run.task.on_epoch_end(epoch, run.run_dir)
        run.log.epoch_end({"epochs": run.history, "iteration": run.iteration, "checkpoint": prefix})

    run.last = save_checkpoint(run.ckpt_dir, epoch, run.task.net, run.trainer, meta,
                               keep=getattr(run.opt, "keep_checkpoints", 0), before_commit=finish)


def _summary_line(run, epoch, summary):
    """``epoch 4/12: loss 0.41, <task metrics>, lr 0.001, img/s 12.3, 1m 05s, ETA 9m 45s``:
    the epoch's means, its time and the time the remaining epochs take at this run's pace."""
    done = epoch + 1 - run.first
    elapsed = time.time() - run.started
    eta = elapsed / max(done, 1) * (run.opt.epochs - epoch - 1)
    values = [f"{k} {v:.4g}" for k, v in summary.items() if k not in ("epoch", "iterations", "lr", "img_s")]
    values += [f"lr {summary['lr']:.4g}", f"img/s {summary.get('img_s', 0.0):.3g}",
               _duration(elapsed / max(done, 1)), f"ETA {_duration(eta)}"]
    return f"epoch {epoch + 1}/{run.opt.epochs}: " + ", ".join(values)


def _duration(seconds):
    seconds = int(round(seconds))
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")
