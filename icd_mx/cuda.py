"""Make the pip CUDA 11 runtime wheels (``nvidia-*-cu11``) found by ``mxnet-cu112``.

The wheels put their libraries in ``site-packages/nvidia/<part>/lib``, which is on no
library path, and ``libmxnet.so`` names them only by soname (``libcudnn.so.8``...).
Loading them with ``RTLD_GLOBAL`` before ``libmxnet.so`` is opened lets the dynamic
linker match those sonames to the already loaded copies, so a GPU machine needs only
the NVIDIA driver (``libcuda.so.1``) and no ``LD_LIBRARY_PATH`` (docs/gpu.md).

:func:`install_hook` (run by ``import icd_mx``, and at interpreter start by the
``.pth`` file that ``make install-gpu`` writes) adds an import hook that preloads
the libraries the first time ``mxnet`` is imported; on the CPU build, where no
``nvidia`` folder exists, it does nothing. Standard library only: it runs before
anything else is importable.
"""
import ctypes
import glob
import os
import site
import sys

# Load order: a library before the ones that need it (cublasLt before cublas, ...).
PRELOAD_ORDER = ("libcudart.so", "libnvrtc.so", "libnvToolsExt.so", "libcublasLt.so", "libcublas.so",
                 "libcufft.so", "libcurand.so", "libcusparse.so", "libcusolver.so", "libcudnn.so", "libnccl.so")

_state = {"loaded": None}


def site_dirs():
    """The site-packages folders of this interpreter (venv first)."""
    dirs = []
    try:
        dirs += site.getsitepackages()
    except AttributeError:  # some embedded interpreters
        pass
    dirs += [p for p in sys.path if p.endswith("site-packages")]
    return list(dict.fromkeys(d for d in dirs if os.path.isdir(d)))


def wheel_lib_dirs(sites=None):
    """Every ``<site-packages>/nvidia/*/lib`` folder, sorted."""
    out = []
    for s in site_dirs() if sites is None else sites:
        out += sorted(d for d in glob.glob(os.path.join(s, "nvidia", "*", "lib")) if os.path.isdir(d))
    return out


def preload_plan(lib_dirs):
    """The files to load, in :data:`PRELOAD_ORDER`: per prefix, the files ``<prefix>.<major>``
    (the sonames ``libmxnet.so`` asks for; no ``.so.X.Y.Z`` duplicates, no sub-libraries
    that a library opens itself, such as cuDNN's ``libcudnn_ops_infer``)."""
    files = []
    for d in lib_dirs:
        files += [os.path.join(d, f) for f in os.listdir(d)]
    plan = []
    for prefix in PRELOAD_ORDER:
        for path in sorted(files):
            rest = os.path.basename(path)[len(prefix):]
            if os.path.basename(path).startswith(prefix) and rest.startswith(".") and rest.count(".") <= 2:
                plan.append(path)
    return plan


def preload(lib_dirs=None):
    """Load the wheels' libraries globally (once); returns the list of loaded paths.

    A library that fails to load is skipped: ``import mxnet`` then names what is missing.
    """
    if _state["loaded"] is not None:
        return _state["loaded"]
    loaded = []
    for path in preload_plan(wheel_lib_dirs() if lib_dirs is None else lib_dirs):
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            loaded.append(path)
        except OSError:
            pass
    _state["loaded"] = loaded
    return loaded


class _MXNetHook:
    """A meta-path finder that preloads the wheels when ``mxnet`` is first imported and
    then steps aside (it never finds anything itself)."""

    def find_spec(self, name, path=None, target=None):
        if name == "mxnet":
            preload()
            _remove_hook()
        return None


def _remove_hook():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _MXNetHook)]


def install_hook():
    """Preload on the first ``import mxnet`` when the CUDA wheels are installed (cheap otherwise)."""
    if _state["loaded"] is not None or any(isinstance(f, _MXNetHook) for f in sys.meta_path):
        return
    if "mxnet" in sys.modules or not wheel_lib_dirs():
        return
    sys.meta_path.insert(0, _MXNetHook())
