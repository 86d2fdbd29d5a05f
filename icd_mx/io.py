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


MADE_BY = "_made_by.json"


def file_digest(path, chunk=1 << 22):
    """SHA-1 of a file's bytes: names a checkpoint wherever it is copied or moved."""
    import hashlib

    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def record_digest(folder):
    """SHA-1 of ``folder``'s :func:`bind_outputs` record ("" if it has none): lets a later
    stage name the exact inputs it was made from."""
    path = os.path.join(folder, MADE_BY)
    return file_digest(path) if os.path.isfile(path) else ""


def bind_outputs(folder, record, overwrite=False):
    """Tie the outputs in ``folder`` to what produces them, so a rerun never mixes in stale files.

    ``record`` is a JSON-able dict (checkpoint digest, the config that matters). The
    first run writes it to ``folder/_made_by.json``; a rerun with the same record resumes
    (finished files are kept). A different record means the files there were made by
    another checkpoint or config: an InputError naming the folder and the first key that
    differs, unless ``overwrite``, which deletes the folder's files and starts over. A
    folder of outputs without a record (the release's files, an older version) is adopted.

    Returns
    -------
    bool
        True when existing outputs were removed.
    """
    import shutil

    from .errors import InputError

    record = json.loads(json.dumps(record, sort_keys=True))
    path = os.path.join(folder, MADE_BY)
    removed = False
    if os.path.isfile(path):
        with open(path) as f:
            old = json.load(f)
        if old != record:
            if not overwrite:
                key = next(k for k in sorted(set(old) | set(record)) if old.get(k) != record.get(k))
                raise InputError(folder, f"holds outputs made with another {key} ({_short(old.get(key))} vs now "
                                         f"{_short(record.get(key))}); rerun with --overwrite or delete the folder")
            shutil.rmtree(folder)
            removed = True
    if removed or not os.path.isfile(path):
        save_json(path, record)
    return removed


def _short(value, limit=60):
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
