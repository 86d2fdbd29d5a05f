"""Atomic file output: every artifact is written to a temporary file in the same
folder and renamed into place, so a killed run leaves no half-written file and a
rerun can trust every file it finds (design.md, "Rules of the design")."""
import json
import os
import tempfile
from contextlib import contextmanager

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give outputs the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_npy(path, array):
    """Write ``array`` as ``.npy`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def save_text(path, text):
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)


def save_json(path, obj):
    """Write ``obj`` as indented JSON atomically."""
    save_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_png(path, array, palette=None):
    """Write a uint8 array as PNG atomically (with a palette if given, via PIL)."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(array))
    if palette is not None:
        img = img.convert("P") if img.mode != "P" else img
        img.putpalette(list(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def set_num_threads(n=None):
    """Set ``OMP_NUM_THREADS`` (MXNet uses half the cores when it is unset,
    mxnet-notes.md "Performance knobs") unless the user already set it.
    Must run before ``import mxnet`` to take effect."""
    if "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(n or os.cpu_count() or 1)
    return int(os.environ["OMP_NUM_THREADS"])


def load_param_file(path, what="parameter file"):
    """``mx.nd.load`` a ``.params`` file; a missing or unreadable one is an InputError naming it."""
    import mxnet as mx

    from .errors import InputError

    if not os.path.isfile(path):
        raise InputError(path, f"{what} not found")
    try:
        return mx.nd.load(path)
    except mx.base.MXNetError as e:
        raise InputError(path, f"not an MXNet parameter file ({str(e).splitlines()[0][:120]})")
