"""Atomic file output: every artifact is written to a temporary file in the same
folder and renamed into place, so a killed run leaves no half-written file and a
rerun can trust every file it finds; run-folder locks, so two runs never write into
one folder; output-folder records (docs/reliability.md)."""
import errno
import json
import os
import re
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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=folder)
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give outputs the usual mode
        os.replace(tmp, path)
    except OSError as e:  # a failed write names the file it was for (docs/reliability.md)
        if e.filename not in (None, tmp):
            raise
        raise OSError(e.errno, e.strerror or str(e), path) from None
    except Exception as e:
        if "Write incomplete" not in str(e):  # MXNet's writers: a short write is an MXNetError
            raise
        full = _free_bytes(folder) < (1 << 20)
        raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device" if full else
                      "write incomplete (disk full, quota or file size limit)", path) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _free_bytes(folder):
    try:
        st = os.statvfs(folder)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


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
    differs (the nested key and both values), unless ``overwrite``, which deletes the
    folder's files and starts over. A folder of outputs without a record (the release's
    files, an older version) is adopted; a record over an empty folder is replaced.
    Call it once the stage's inputs are validated (:func:`check_outputs` before), so a
    stage that fails early never binds its folder (docs/reliability.md, "Refusals").

    Returns
    -------
    bool
        True when existing outputs were removed.
    """
    import shutil

    removed = check_outputs(folder, record, overwrite)
    if removed:
        for name in os.listdir(folder):  # everything but a lock held on the folder itself
            if name != LOCK_FILE:
                target = os.path.join(folder, name)
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.remove(target)
    path = os.path.join(folder, MADE_BY)
    if removed or not os.path.isfile(path) or _bound_record(folder) is None:
        save_json(path, json.loads(json.dumps(record, sort_keys=True)))
    return removed


def _bound_record(folder):
    """The record of ``folder``, or None when it has none or holds no output besides it: an
    empty bound folder (a stage that failed before writing anything) counts as unbound."""
    path = os.path.join(folder, MADE_BY)
    if not os.path.isfile(path):
        return None
    for root, _, files in os.walk(folder):
        if any(not (root == folder and f in (MADE_BY, LOCK_FILE)) and not _is_temp(f) for f in files):
            break
    else:
        return None
    with open(path) as f:
        return json.load(f)


def check_outputs(folder, record, overwrite=False):
    """What :func:`bind_outputs` would do, without writing: an InputError when ``folder``
    holds outputs of another record (unless ``overwrite``); True when they would be removed.

    Call it before the inputs are validated and :func:`bind_outputs` after, so a stage
    that fails on bad input leaves its folder as it was (docs/reliability.md).
    """
    from .errors import InputError

    old = _bound_record(folder)
    record = json.loads(json.dumps(record, sort_keys=True))
    if old is None or old == record:
        return False
    if not overwrite:
        key, was, now = _first_difference(old, record)
        raise InputError(folder, f"holds outputs made with another {key} ({was} vs now {now}); rerun with "
                                 "--overwrite or delete the folder")
    return True


def _first_difference(old, new, prefix=""):
    """``(dotted key, old value, new value)`` of the first leaf where two records differ."""
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            return _first_difference(a, b, name + ".")
        return name, json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)
    return prefix.rstrip(".") or "record", "?", "?"


_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[^.]*)?$")  # atomic_path's temporary names


def _is_temp(name):
    return bool(_TEMP.match(name))


def remove_stale_temps(folder):
    """Remove the temporary files :func:`atomic_path` left under ``folder`` when a run was
    killed (kill -9 skips its cleanup). Only safe while holding the folder's :func:`run_lock`.

    Returns
    -------
    list of str
        The removed paths.
    """
    removed = []
    for root, _, files in os.walk(folder):
        for name in files:
            if _is_temp(name):
                path = os.path.join(root, name)
                try:
                    os.remove(path)
                    removed.append(path)
                except FileNotFoundError:
                    pass
    return removed


LOCK_FILE = ".icd-lock"
_HELD = {}  # real path of a locked folder -> [fd, depth] (a stage may call another in-process)


@contextmanager
def run_lock(folder, stage):
    """Hold an exclusive lock on ``folder`` (a run folder, or a stage's output folder) while
    a stage writes into it; a second run into the same folder is refused at once with an
    InputError naming the holder's pid (docs/reliability.md, "Locks").

    The lock is ``flock`` on ``<folder>/.icd-lock`` (released by the kernel when a process
    dies, so a killed run never blocks the next one); the file holds the holder's pid and
    stage, and is removed on release (with the folder, if this call made it and it stayed
    empty). On taking the lock, the temporary files of a killed
    run are removed (:func:`remove_stale_temps`). Re-entrant within one process. The
    workers of a ``dist_sync`` job (``DMLC_ROLE=worker``) share the folder by design and
    take a shared lock: they exclude any other run, not each other.
    """
    import fcntl

    from .errors import InputError

    created = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    key = os.path.realpath(folder)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    shared = os.environ.get("DMLC_ROLE") == "worker"
    path = os.path.join(folder, LOCK_FILE)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise InputError(folder, f"in use by another run ({_lock_holder(path)}); wait for it to end, "
                                     "or give this run another run_dir") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: take the new one
    if not shared:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {stage}\n".encode())
        remove_stale_temps(folder)
    _HELD[key] = [fd, 1]
    try:
        yield
    finally:
        del _HELD[key]
        if not shared:
            try:
                os.remove(path)  # while still locked: a waiting opener sees the inode change
            except FileNotFoundError:
                pass
        os.close(fd)
        if created:  # a stage refused before writing anything leaves no empty run folder behind
            try:
                os.rmdir(folder)
            except OSError:
                pass


def _lock_holder(path):
    try:
        with open(path) as f:
            pid, _, stage = f.read().strip().partition(" ")
    except OSError:
        pid, stage = "", ""
    if not pid:
        return "a dist_sync job or a run just starting"
    return f"{stage or 'a stage'}, pid {pid}"


def mx_error_text(e):
    """The message of an MXNet error without its C++ traceback header: the last
    ``Check failed``/``MXNetError`` line (never "Traceback ...")."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    lines = [x for x in lines if not x.startswith(("Traceback", "File ", "[bt]", "Stack trace"))]
    text = lines[-1] if lines else type(e).__name__
    return text.split("MXNetError: ", 1)[-1][:200]


def set_num_threads(n=None):
    """Set ``OMP_NUM_THREADS`` (MXNet uses half the cores when it is unset,
    docs/method.md "MXNet conventions") unless the user already set it.
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
    if os.path.getsize(path) == 0:
        raise InputError(path, f"empty {what} (0 bytes)")
    try:
        return mx.nd.load(path)
    except mx.base.MXNetError as e:
        raise InputError(path, f"truncated or unreadable {what}: not a complete MXNet .params file "
                               f"({mx_error_text(e)})")
