"""Data parallelism over devices and machines: roles, kvstores, reductions, sharding,
and a local launcher for MXNet's own parameter server (``dist_sync``).

MXNet's ``dist_sync`` needs one scheduler, S servers and W workers, each started with
the ``DMLC_*`` variables (docs/method.md, "MXNet conventions"). Scheduler and
servers only ``import mxnet``; workers run the training command and create the
kvstore with :func:`create_kvstore`.

Of the two dist_sync traps (docs/method.md, "MXNet conventions") the engine takes ``update_on_kvstore=False``: the
optimizer runs on each worker with the Parameters' own ``lr_mult``/``wd_mult``, the
servers only sum (so a dedicated key gives a plain global sum for
:class:`Reducer`), the momentum stays local so ``Trainer.save_states`` works, and the
trainer initialises the kvstore and passes a barrier before the first step.
"""
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

REDUCE_KEY_BASE = 1 << 24  # far above any Parameter index the Trainer uses


def role():
    """The ``DMLC_ROLE`` of this process (``scheduler``, ``server``, ``worker``) or ``None``."""
    return os.environ.get("DMLC_ROLE") or None


def is_dist(kvstore):
    """Whether ``kvstore`` (a name or a KVStore) is a distributed one."""
    name = kvstore if isinstance(kvstore, str) else getattr(kvstore, "type", "")
    return bool(name) and name.startswith("dist")


def create_kvstore(kvstore):
    """Create a distributed kvstore, or pass a local kvstore name through.

    Parameters
    ----------
    kvstore : str
        ``device``, ``local`` (handed to the Gluon Trainer as a name) or ``dist_sync``.

    Returns
    -------
    str or mxnet.kvstore.KVStore
    """
    if not is_dist(kvstore):
        return kvstore
    from ..env import require_launcher

    require_launcher(kvstore, role())  # one line, not a traceback, without the launcher
    import mxnet as mx

    return mx.kv.create(kvstore)


def worker_info(kv):
    """``(rank, num_workers)``: ``(0, 1)`` for a local kvstore."""
    if is_dist(kv):
        return kv.rank, kv.num_workers
    return 0, 1


def barrier(kv):
    """Block until every worker reaches this point (no-op locally)."""
    if is_dist(kv):
        kv._barrier()


class Reducer:
    """Sum per-context NDArrays over all contexts and all workers.

    Locally the arrays are summed onto the first context. Under ``dist_sync`` they are
    pushed to a dedicated key and pulled back: the servers hold no optimizer (the
    engine uses ``update_on_kvstore=False``), so the pull returns the sum over every
    context of every worker. Each distinct shape gets its own key, initialised in call
    order, which is the same on every worker.

    Parameters
    ----------
    kv : str or KVStore
        The kvstore the trainer uses.
    """

    def __init__(self, kv):
        self.kv = kv if is_dist(kv) else None
        self._keys = {}

    def __call__(self, arrays):
        """Sum ``arrays`` (one NDArray per context; a single NDArray is one context).

        Returns
        -------
        NDArray
            The global sum, on the first array's context, outside autograd.
        """
        import mxnet as mx

        if isinstance(arrays, mx.nd.NDArray):
            arrays = [arrays]
        arrays = [a.detach() for a in arrays]
        ctx = arrays[0].context
        if self.kv is None:
            if len(arrays) == 1:
                return arrays[0].copy()
            return mx.nd.add_n(*[a.as_in_context(ctx) for a in arrays])
        sig = (tuple(arrays[0].shape), str(arrays[0].dtype))
        if sig not in self._keys:
            key = REDUCE_KEY_BASE + len(self._keys)
            self.kv.init(key, mx.nd.zeros(arrays[0].shape, ctx=mx.cpu(), dtype=arrays[0].dtype))
            self._keys[sig] = key
        out = mx.nd.zeros(arrays[0].shape, ctx=ctx, dtype=arrays[0].dtype)
        self.kv.push(self._keys[sig], arrays)
        self.kv.pull(self._keys[sig], out=out)
        return out


def shard_batches(num_samples, batch_size, epoch, seed, shard=(0, 1), shuffle=True):
    """Index arrays of one worker's share of each global batch of an epoch.

    The epoch's order is a permutation drawn from ``(seed, epoch)``, the same on every
    worker; global batch ``b`` (``batch_size * num_workers`` samples) is cut into
    ``num_workers`` slices and worker ``rank`` takes slice ``rank``. The tail that does
    not fill a global batch is dropped, so every worker runs the same number of
    iterations (``dist_sync`` would wait forever otherwise) and the union over workers
    is the single-process batch. Give it what ``fit`` gives ``train_loader``.

    Parameters
    ----------
    num_samples : int
    batch_size : int
        This worker's batch (the global batch divided by the number of workers).
    epoch, seed : int
    shard : (int, int)
        ``(rank, num_workers)``.
    shuffle : bool

    Returns
    -------
    list of numpy.ndarray
        One int64 index array of length ``batch_size`` per iteration.
    """
    rank, num_workers = shard
    order = np.arange(num_samples)
    if shuffle:
        order = np.random.RandomState([int(seed) & 0x7FFFFFFF, int(epoch)]).permutation(num_samples)
    full = batch_size * num_workers
    return [order[b * full + rank * batch_size: b * full + (rank + 1) * batch_size]
            for b in range(num_samples // full)]


def free_port(host="127.0.0.1"):
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def dmlc_env(role_name, host, port, num_servers, num_workers, node_host=None):
    """The ``DMLC_*`` variables for one process of a ``dist_sync`` job."""
    return {
        "DMLC_ROLE": role_name,
        "DMLC_PS_ROOT_URI": host,
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NUM_SERVER": str(num_servers),
        "DMLC_NUM_WORKER": str(num_workers),
        "DMLC_NODE_HOST": node_host or host,
    }


def _kill_all(procs):
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                p.kill()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def launch_local(command, num_workers=2, num_servers=1, host="127.0.0.1", port=0,
                 timeout=600.0, grace=10.0, env=None):
    """Run ``command`` as ``num_workers`` workers of a local ``dist_sync`` job.

    Starts one scheduler and ``num_servers`` servers (``python -c "import mxnet"``)
    and the workers, each in its own process group; waits for the workers, gives
    scheduler and servers ``grace`` seconds to stop, and kills every process it
    started on return, on failure, on timeout and on KeyboardInterrupt.

    Parameters
    ----------
    command : list of str
        The worker command line.
    num_workers, num_servers : int
    host : str
        Scheduler address (and ``DMLC_NODE_HOST``).
    port : int
        Scheduler port; 0 picks a free one.
    timeout : float
        Seconds before every process is killed.
    grace : float
    env : dict, optional
        Extra environment for every process.

    Returns
    -------
    int
        0 when every worker succeeded, the first failing worker's exit code, or 124 on
        timeout.
    """
    port = port or free_port(host)
    base = dict(os.environ, **(env or {}))
    # icd_mx first where importable: it makes the pip CUDA wheels found (docs/gpu.md)
    server_cmd = [sys.executable, "-c", "try:\n    import icd_mx\nexcept ImportError:\n    pass\nimport mxnet"]
    roles = [("scheduler", server_cmd)] + [("server", server_cmd)] * num_servers
    roles += [("worker", list(command))] * num_workers
    procs, workers = [], []
    deadline = time.monotonic() + timeout
    try:
        for name, cmd in roles:
            penv = dict(base, **dmlc_env(name, host, port, num_servers, num_workers))
            p = subprocess.Popen(cmd, env=penv, start_new_session=True)
            procs.append(p)
            if name == "worker":
                workers.append(p)
        while time.monotonic() < deadline:
            codes = [w.poll() for w in workers]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                return failed[0]
            if all(c == 0 for c in codes):
                end = min(deadline, time.monotonic() + grace)
                while time.monotonic() < end and any(p.poll() is None for p in procs):
                    time.sleep(0.1)
                return 0
            time.sleep(0.1)
        return 124
    finally:
        _kill_all(procs)
