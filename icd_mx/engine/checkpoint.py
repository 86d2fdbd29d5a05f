"""Per-epoch checkpoints: parameters, trainer states and JSON meta, written atomically.

Layout in ``<run_dir>/checkpoints/``::

    epoch-0003.params   net.save_parameters (Gluon structural names)
    epoch-0003.states   trainer.save_states (momentum, optimizer)
    epoch-0003.json     meta: epoch, iteration, task state, history, opt

Each file goes through :func:`icd_mx.io.atomic_path`; the JSON is written last and is
the commit mark: a checkpoint counts only when its JSON and both binary files exist,
so a run killed while writing falls back to the previous epoch. What a task derives
from a checkpoint (the release export, previews, the epoch's logs) is written before
the mark, so a committed epoch is never missing them (docs/reliability.md).
"""
import glob
import os
import re

from ..errors import InputError
from ..io import atomic_path, load_param_file, mx_error_text, save_json

_NAME = re.compile(r"epoch-(\d+)\.json$")


def checkpoint_prefix(ckpt_dir, epoch):
    """``<ckpt_dir>/epoch-NNNN`` (the path of a checkpoint without extension)."""
    return os.path.join(ckpt_dir, f"epoch-{epoch:04d}")


def save_checkpoint(ckpt_dir, epoch, net, trainer, meta, keep=0, before_commit=None):
    """Write the checkpoint of ``epoch``; the JSON meta last.

    Parameters
    ----------
    ckpt_dir : str
    epoch : int
        The epoch just completed (0-based).
    net : gluon.Block
    trainer : gluon.Trainer
    meta : dict
        JSON-serialisable; ``epoch`` is added.
    keep : int
        Keep only the newest ``keep`` checkpoints (0: all).
    before_commit : callable, optional
        ``before_commit(prefix)`` once the binaries are written, before the JSON meta.

    Returns
    -------
    str
        The checkpoint prefix.
    """
    prefix = checkpoint_prefix(ckpt_dir, epoch)
    try:
        with atomic_path(prefix + ".params") as tmp:
            net.save_parameters(tmp)
        with atomic_path(prefix + ".states") as tmp:
            trainer.save_states(tmp)
        if before_commit is not None:
            before_commit(prefix)
        save_json(prefix + ".json", dict(meta, epoch=epoch))
    except BaseException:  # a failed write (a full disk): no half checkpoint is left beside the good ones
        for path in (prefix + ".params", prefix + ".states"):
            if os.path.exists(path) and not os.path.exists(prefix + ".json"):
                os.remove(path)
        raise
    if keep > 0:
        for old in list_checkpoints(ckpt_dir)[:-keep]:
            # the checkpoint and what tasks exported beside it (``<prefix>-release.params``)
            for path in [old + ext for ext in (".json", ".params", ".states")] + glob.glob(old + "-*"):
                if os.path.exists(path):
                    os.remove(path)
    return prefix


def list_checkpoints(ckpt_dir):
    """Prefixes of the complete checkpoints in ``ckpt_dir``, oldest first."""
    found = []
    for path in glob.glob(os.path.join(ckpt_dir, "epoch-*.json")):
        m = _NAME.search(path)
        prefix = path[: -len(".json")]
        if m and os.path.exists(prefix + ".params") and os.path.exists(prefix + ".states"):
            found.append((int(m.group(1)), prefix))
    return [p for _, p in sorted(found)]


def latest_checkpoint(ckpt_dir):
    """The newest complete checkpoint prefix, or ``None``."""
    found = list_checkpoints(ckpt_dir)
    return found[-1] if found else None


def load_meta(prefix):
    """Read ``<prefix>.json``; raise :class:`InputError` naming the file when it is bad."""
    import json

    path = prefix + ".json"
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(path, f"unreadable checkpoint meta ({e})")
    if not isinstance(meta, dict) or "epoch" not in meta:
        raise InputError(path, "checkpoint meta without 'epoch'")
    return meta


def load_checkpoint(prefix, net, trainer, contexts):
    """Load parameters and trainer states of ``prefix`` and return its meta.

    Raises
    ------
    InputError
        When a file is unreadable or does not match the network.
    """
    meta = load_meta(prefix)
    load_param_file(prefix + ".params", "checkpoint parameter file")  # truncated or unreadable: said so
    try:
        net.load_parameters(prefix + ".params", ctx=contexts)
    except (AssertionError, RuntimeError, ValueError, KeyError) as e:
        raise InputError(prefix + ".params", f"does not match the network ({mx_error_text(e)})")
    if os.path.getsize(prefix + ".states") == 0:
        raise InputError(prefix + ".states", "empty trainer states file (0 bytes)")
    try:
        trainer.load_states(prefix + ".states")
    except Exception as e:  # pickle / MXNet errors have no common base
        raise InputError(prefix + ".states", f"truncated or unreadable trainer states ({type(e).__name__}: "
                                             f"{mx_error_text(e)})")
    return meta
