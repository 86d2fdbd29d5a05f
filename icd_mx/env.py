"""``icd doctor`` (``python -m icd_mx.env``): is this machine ready to train?

Prints the Python, the MXNet build (CPU or CUDA), whether every shared library of
``libmxnet.so`` resolves (CUDA runtime, cuDNN, NCCL, the driver's ``libcuda.so.1``),
the GPUs visible, the thread settings and the dataset root of a config; exits 1 with
a one-line fix when something is missing (docs/gpu.md).

The library check never imports MXNet (the CUDA build cannot load without a driver):
it reads the ``NEEDED`` entries of ``libmxnet.so`` and of every library they resolve to
from the ELF files and searches them as the dynamic linker would, with the pip CUDA
wheels' folders first, as :mod:`icd_mx.cuda` preloads them. The pure part,
:func:`resolve_closure`, takes the ``NEEDED`` reader and the file test as arguments
and is tested on made-up library lists.

This module also holds the refusals of settings the build or the machine cannot run
(:func:`require_gpus`, :func:`require_launcher`).
"""
import argparse
import glob
import importlib.metadata
import importlib.util
import os
import struct
import subprocess
import sys

from .errors import InputError

SUPPORTED_PYTHON = (3, 11)
MXNET_BUILDS = {"mxnet": "cpu", "mxnet-cu112": "cu112"}
DRIVER = "libcuda.so.1"
# soname prefix -> group shown by the doctor
GROUPS = (("libcuda.so", "driver"), ("libcudnn", "cuDNN"), ("libnccl", "NCCL"), ("libcudart", "CUDA"),
          ("libcublas", "CUDA"), ("libcufft", "CUDA"), ("libcurand", "CUDA"), ("libcusolver", "CUDA"),
          ("libcusparse", "CUDA"), ("libnvrtc", "CUDA"), ("libnvToolsExt", "CUDA"), ("libnvJitLink", "CUDA"))
SYSTEM_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")


# -- ELF ------------------------------------------------------------------------------

def elf_dynamic(path):
    """``(needed, runpath)`` of an ELF shared library: its ``DT_NEEDED`` sonames and its
    ``DT_RUNPATH``/``DT_RPATH`` folders (``$ORIGIN`` expanded). Raises ``ValueError`` for
    a file that is not a 64-bit little-endian ELF."""
    with open(path, "rb") as f:
        data = f.read(64)
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
        phoff, = struct.unpack_from("<Q", data, 32)
        phentsize, phnum = struct.unpack_from("<HH", data, 54)
        f.seek(phoff)
        phdrs = [struct.unpack("<IIQQQQQQ", f.read(phentsize)[:56]) for _ in range(phnum)]
        loads = [(p[3], p[2], p[5]) for p in phdrs if p[0] == 1]  # PT_LOAD: vaddr, offset, filesz
        dyn = [p for p in phdrs if p[0] == 2]  # PT_DYNAMIC
        if not dyn:
            return [], []
        f.seek(dyn[0][2])
        raw = f.read(dyn[0][5])
        entries = [struct.unpack_from("<qQ", raw, i) for i in range(0, len(raw) - 15, 16)]
        strtab = next((v for t, v in entries if t == 5), None)
        if strtab is None:
            return [], []
        offset = next((off + strtab - va for va, off, size in loads if va <= strtab < va + size), strtab)

        def string(at):
            f.seek(offset + at)
            out = b""
            while b"\0" not in out:
                chunk = f.read(256)
                if not chunk:
                    break
                out += chunk
            return out.split(b"\0", 1)[0].decode("utf-8", "replace")

        needed, runpath = [], []
        for tag, value in entries:
            if tag == 0:
                break
            if tag == 1:
                needed.append(string(value))
            elif tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                origin = os.path.dirname(os.path.abspath(path))
                runpath += [p.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
                            for p in string(value).split(":") if p]
    return needed, runpath


def ldconfig_cache():
    """soname -> path from ``ldconfig -p`` (empty when ldconfig is unavailable)."""
    for exe in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            out = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        cache = {}
        for line in out.splitlines()[1:]:
            name, _, path = line.strip().partition(" => ")
            name = name.split(" (")[0]
            if path and ("x86-64" in line or "64bit" in line):
                cache.setdefault(name, path.strip())
        return cache
    return {}


# -- resolution (pure) ------------------------------------------------------------------

def resolve_closure(root, read_dynamic, search_dirs, exists, cache=None):
    """Resolve every library ``root`` needs, recursively, as the dynamic linker would.

    Parameters
    ----------
    root : str
        Path of the library (``libmxnet.so``).
    read_dynamic : callable
        ``path -> (needed sonames, runpath folders)`` (:func:`elf_dynamic`).
    search_dirs : list of str
        Folders searched after a library's own runpath: the pip CUDA wheels' folders
        (preloaded by :mod:`icd_mx.cuda`), ``LD_LIBRARY_PATH``, then the system folders.
    exists : callable
        ``path -> bool``.
    cache : dict, optional
        soname -> path of the linker cache (``ldconfig -p``), tried before the system folders.

    Returns
    -------
    dict
        ``{soname: path or None}`` for every library in the closure (None: not found),
        in the order first needed; ``{soname: [who needs it]}`` under the key ``"_needed_by"``.
    """
    cache = cache or {}
    found, needed_by, queue, seen = {}, {}, [root], {root}
    while queue:
        lib = queue.pop(0)
        try:
            needed, runpath = read_dynamic(lib)
        except (OSError, ValueError):
            continue
        for soname in needed:
            needed_by.setdefault(soname, []).append(os.path.basename(lib))
            if soname in found:
                continue
            path = None
            for d in list(runpath) + list(search_dirs):
                if exists(os.path.join(d, soname)):
                    path = os.path.join(d, soname)
                    break
            if path is None and soname in cache and exists(cache[soname]):
                path = cache[soname]
            if path is None:
                for d in SYSTEM_DIRS:
                    if exists(os.path.join(d, soname)):
                        path = os.path.join(d, soname)
                        break
            found[soname] = path
            if path and path not in seen:
                seen.add(path)
                queue.append(path)
    found["_needed_by"] = needed_by
    return found


def group_of(soname):
    """``driver``, ``cuDNN``, ``NCCL``, ``CUDA`` or ``system``."""
    for prefix, group in GROUPS:
        if soname.startswith(prefix):
            return group
    return "system"


def verdict(build, libs):
    """``(ok, line)``: one line on the MXNet libraries for the doctor's summary.

    Parameters
    ----------
    build : str or None
        ``cpu``, ``cu112`` (or None: no MXNet).
    libs : dict
        :func:`resolve_closure`'s result.
    """
    if build is None:
        return False, "MXNet is not installed: run `make install` (CPU) or `make install-gpu` (NVIDIA GPUs)"
    missing = [s for s, p in libs.items() if s != "_needed_by" and p is None]
    cuda = [s for s in libs if s != "_needed_by" and group_of(s) != "system"]
    if not missing:
        if build == "cpu":
            return True, "every library of libmxnet resolves (CPU build)"
        return True, f"every library of libmxnet resolves, {len(cuda)} CUDA libraries included, driver too"
    if missing == [DRIVER]:
        return False, (f"every CUDA library of libmxnet resolves except {DRIVER}, which only the NVIDIA "
                       "driver provides: install the driver (or `make install` for the CPU build)")
    wheels = [s for s in missing if group_of(s) not in ("system", "driver")]
    if wheels:
        return False, (f"{', '.join(wheels)} not found: run `make install-gpu` (requirements-gpu.txt has "
                       "the pip CUDA 11 wheels)")
    return False, f"{', '.join(missing)} not found (needed by libmxnet): install them with the system's packages"


# -- the machine ----------------------------------------------------------------------------

def mxnet_builds():
    """``{distribution: version}`` of the installed MXNet builds (``mxnet``, ``mxnet-cu112``)."""
    out = {}
    for dist in MXNET_BUILDS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def libmxnet_path():
    """Path of the installed ``libmxnet.so`` (without importing MXNet), or None."""
    spec = importlib.util.find_spec("mxnet")
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        path = os.path.join(d, "libmxnet.so")
        if os.path.isfile(path):
            return path
    return None


def search_dirs():
    """The pip CUDA wheels' folders, then ``LD_LIBRARY_PATH``."""
    from .cuda import wheel_lib_dirs

    return wheel_lib_dirs() + [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]


def visible_gpus(timeout=120):
    """``(count, detail)`` from ``mx.context.num_gpus()`` in a child process (a CUDA build
    without a driver cannot even import; a crash must not take the doctor with it)."""
    code = "import icd_mx, mxnet as mx; print(mx.context.num_gpus())"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "import mxnet timed out"
    if proc.returncode:
        lines = [x for x in (proc.stderr or "").strip().splitlines() if x.strip()]
        return None, "import mxnet failed: " + (lines[-1] if lines else f"exit {proc.returncode}")
    try:
        return int(proc.stdout.strip().splitlines()[-1]), ""
    except (ValueError, IndexError):
        return None, "num_gpus() gave no number"


def dataset_check(cfg):
    """``(ok, line)``: the config's dataset root, its training list and its inits (fast:
    no file is opened; ``tools/prepare_voc.py --check ROOT`` checks every file)."""
    from .data.voc import VOCLayout

    root = cfg.data.root
    if not os.path.isdir(root):
        return False, f"{root}: not found (README, \"PASCAL VOC 2012\": tools/prepare_voc.py)"
    layout = VOCLayout(root, cfg.data.superpixel_dir)
    problems, parts = [], []
    for name in (cfg.data.train_list, cfg.data.val_list):
        path = layout.list_path(name)
        if not os.path.isfile(path):
            problems.append(f"list {name} missing")
            continue
        with open(path) as f:
            parts.append(f"{name} {sum(1 for line in f if line.strip())} ids")
    for sub in ("JPEGImages", "SegmentationClassAug"):
        if not os.path.isdir(os.path.join(root, sub)):
            problems.append(f"{sub}/ missing")
    n_sp = len(glob.glob(os.path.join(layout.superpixel_dir, "*.png")))
    parts.append(f"superpixels {n_sp}")
    for key, path in (("model.init", cfg.model.init), ("superpixels.feature_params", cfg.superpixels.feature_params)):
        if path and not os.path.isfile(path):
            problems.append(f"{key} {path} missing")
    line = f"{root}: " + ", ".join(parts + problems)
    return not problems, line


def threads_line(cfg=None):
    omp = os.environ.get("OMP_NUM_THREADS", "unset")
    extra = f", config threads {cfg.threads or 'all cores'}" if cfg is not None else ""
    return f"OMP_NUM_THREADS={omp}, {os.cpu_count()} cores{extra}"


def doctor(config=None, out=print, check_gpus=True, overrides=None):
    """Print the report; returns the exit status (0: ready; 1: something is missing)."""
    from .config import load_config

    problems = []
    py = sys.version_info
    ok_py = py[:2] == SUPPORTED_PYTHON
    out(f"python    {py[0]}.{py[1]}.{py[2]} ({sys.executable})"
        + ("" if ok_py else f"  not the supported {SUPPORTED_PYTHON[0]}.{SUPPORTED_PYTHON[1]}"))
    if not ok_py:
        problems.append(f"Python {py[0]}.{py[1]} is not the supported 3.11: `make clean install PYTHON=python3.11`")
    builds = mxnet_builds()
    build = MXNET_BUILDS[next(iter(builds))] if len(builds) == 1 else None
    if len(builds) > 1:
        problems.append(f"both {' and '.join(builds)} are installed (one `mxnet` package): rerun "
                        "`make install` (CPU) or `make install-gpu`, which replace the build cleanly")
    out("mxnet     " + (", ".join(f"{d}=={v} ({MXNET_BUILDS[d]} build)" for d, v in builds.items()) or "not installed"))
    lib = libmxnet_path()
    libs = {"_needed_by": {}}
    if lib:
        libs = resolve_closure(lib, elf_dynamic, search_dirs(), os.path.isfile, ldconfig_cache())
        out(f"libmxnet  {lib}: {len(libs) - 1} libraries in its closure")
        for group in ("CUDA", "cuDNN", "NCCL", "driver"):
            for soname, path in libs.items():
                if soname != "_needed_by" and group_of(soname) == group:
                    out(f"  {group:<7} {'found' if path else 'MISSING':<8}{soname:<24}{path or ''}")
        system_missing = [s for s, p in libs.items() if s != "_needed_by" and p is None and group_of(s) == "system"]
        out(f"  system  {len(libs) - 1 - sum(group_of(s) != 'system' for s in libs if s != '_needed_by')} "
            f"libraries" + (f", missing: {', '.join(system_missing)}" if system_missing else ", all found"))
    elif builds:
        problems.append("libmxnet.so not found in the mxnet package: reinstall (`make install` or `make install-gpu`)")
    lib_ok, lib_line = verdict(build if builds and lib else None, libs)
    if build is None and not builds:
        problems.append(lib_line)
    elif not lib_ok:
        problems.append(lib_line)
    if check_gpus and lib_ok:
        count, detail = visible_gpus()
        out("gpus      " + (f"{count} visible" if count is not None else detail)
            + (" (CPU build)" if build == "cpu" else ""))
        if build == "cu112" and not count:
            problems.append("the CUDA build sees no GPU: check `nvidia-smi` and CUDA_VISIBLE_DEVICES")
    else:
        out("gpus      not checked (MXNet cannot load: see above)")
    cfg = None
    try:
        cfg = load_config(config, overrides) if config else None
    except InputError as e:
        problems.append(f"{e}")
    out(f"threads   {threads_line(cfg)}")
    if cfg is not None:
        ds_ok, ds_line = dataset_check(cfg)
        out(f"dataset   {ds_line}")
        if not ds_ok:
            problems.append(f"dataset: {ds_line}")
        if cfg.train.gpus and build == "cpu":
            problems.append(gpus_refusal("train.gpus", cfg.train.gpus))
    if problems:
        out("verdict   " + problems[0])
        for p in problems[1:]:
            out("also      " + p)
        return 1
    out("verdict   " + (lib_line if lib_ok else "ready"))
    return 0


# -- refusals -------------------------------------------------------------------------------

def gpus_refusal(key, gpus):
    return (f"{key}={list(gpus)} asks for GPUs but this MXNet is the CPU build: run `make install-gpu` "
            f"(or set {key}=[] for the CPU)")


def require_gpus(gpus, key="train.gpus", build=None, count=None):
    """Refuse, in one line naming ``key``, GPUs that the build or the machine does not have.

    ``build`` (``cpu``/``cu112``) and ``count`` (GPUs visible) default to the running
    MXNet's; passing them tests the logic without GPUs.
    """
    if not gpus:
        return
    if build is None:
        import mxnet as mx

        build = "cu112" if mx.runtime.Features().is_enabled("CUDA") else "cpu"
    if build == "cpu":
        raise InputError(key, f"{list(gpus)} asks for GPUs but this MXNet is the CPU build: run "
                              f"`make install-gpu` (or {key}=[] for the CPU)")
    if count is None:
        import mxnet as mx

        count = mx.context.num_gpus()
    bad = [g for g in gpus if not 0 <= int(g) < count]
    if bad:
        raise InputError(key, f"GPU {', '.join(map(str, bad))} asked for but this machine shows {count} GPU(s)"
                              + (f" (0..{count - 1})" if count else "") + ": check `nvidia-smi` and "
                              "CUDA_VISIBLE_DEVICES, or `icd doctor`")


def require_launcher(kvstore, role=None):
    """Refuse a distributed kvstore outside a job started by ``tools/launch_dist.py``."""
    if not (kvstore or "").startswith("dist"):
        return
    role = os.environ.get("DMLC_ROLE") if role is None else role
    if role != "worker":
        raise InputError("train.kvstore", f"{kvstore} needs the DMLC_* variables of a launched job: start the "
                                          "command with `python tools/launch_dist.py -n WORKERS -- python "
                                          "tools/train.py ...` (or use train.kvstore=device)")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="icd doctor", description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append",
                    help="config whose dataset root and inits to check (default: configs/voc_vgg16_icd.yaml "
                         "when it exists)")
    ap.add_argument("--no-gpus", action="store_true", help="do not import MXNet to count GPUs")
    ap.add_argument("overrides", nargs="*", metavar="section.key=value", help="config overrides (data.root=...)")
    args = ap.parse_args(argv)
    config = args.config
    if config is None and os.path.isfile(os.path.join("configs", "voc_vgg16_icd.yaml")):
        config = [os.path.join("configs", "voc_vgg16_icd.yaml")]
    return doctor(config, check_gpus=not args.no_gpus, overrides=args.overrides)


if __name__ == "__main__":
    sys.exit(main())
