"""icd doctor (icd_mx.env), the CUDA wheel preload plan (icd_mx.cuda) and the refusals of
GPUs or a distributed kvstore the build or the machine cannot give (docs/gpu.md)."""
import os
import subprocess
import sys

import pytest

from icd_mx import cuda, env
from icd_mx.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W = "/venv/site-packages/nvidia"
# libmxnet of the cu112 build as measured (docs/gpu.md), with the wheels' folders
FAKE = {
    "/venv/mxnet/libmxnet.so": (["libcudart.so.11.0", "libcudnn.so.8", "libnccl.so.2", "libcublas.so.11",
                                 "libcuda.so.1", "libnvToolsExt.so.1", "libc.so.6"], ["/venv/mxnet"]),
    f"{W}/cuda_runtime/lib/libcudart.so.11.0": (["libc.so.6"], []),
    f"{W}/cudnn/lib/libcudnn.so.8": (["libc.so.6"], ["$ORIGIN"]),
    f"{W}/nccl/lib/libnccl.so.2": (["libc.so.6"], []),
    f"{W}/cublas/lib/libcublas.so.11": (["libcublasLt.so.11", "libc.so.6"], []),
    f"{W}/cublas/lib/libcublasLt.so.11": (["libc.so.6"], []),
    f"{W}/nvtx/lib/libnvToolsExt.so.1": ([], []),
    "/lib/x86_64-linux-gnu/libc.so.6": ([], []),
}
DIRS = [f"{W}/{p}/lib" for p in ("cublas", "cuda_runtime", "cudnn", "nccl", "nvtx")]


def _read(path):
    if path not in FAKE:
        raise OSError(path)
    return FAKE[path]


def _resolve(files, dirs=DIRS, cache=None):
    return env.resolve_closure("/venv/mxnet/libmxnet.so", _read, dirs, lambda p: p in files, cache)


def test_every_cuda_library_resolves_but_the_driver():
    libs = _resolve(set(FAKE))
    assert libs["libcublasLt.so.11"] == f"{W}/cublas/lib/libcublasLt.so.11"  # needed by cublas, not libmxnet
    assert libs["libcuda.so.1"] is None
    assert libs["_needed_by"]["libcublasLt.so.11"] == ["libcublas.so.11"]
    ok, line = env.verdict("cu112", libs)
    assert not ok and "except libcuda.so.1" in line and "driver" in line and "\n" not in line


def test_driver_present_and_missing_wheel():
    libs = _resolve(set(FAKE) | {"/usr/lib/x86_64-linux-gnu/libcuda.so.1"})
    assert libs["libcuda.so.1"] == "/usr/lib/x86_64-linux-gnu/libcuda.so.1"
    assert env.verdict("cu112", libs)[0]
    no_cudnn = _resolve(set(FAKE) - {f"{W}/cudnn/lib/libcudnn.so.8"})
    ok, line = env.verdict("cu112", no_cudnn)
    assert not ok and line.startswith("libcudnn.so.8 not found") and "make install-gpu" in line
    # without the wheels' folders on the search path, nothing CUDA resolves
    bare = _resolve(set(FAKE), dirs=[])
    assert bare["libcudart.so.11.0"] is None and "make install-gpu" in env.verdict("cu112", bare)[1]


def test_runpath_and_linker_cache_order():
    libs = _resolve(set(FAKE) | {"/opt/cuda/libcuda.so.1"}, cache={"libcuda.so.1": "/opt/cuda/libcuda.so.1"})
    assert libs["libcuda.so.1"] == "/opt/cuda/libcuda.so.1"
    # a library in the root's runpath wins over the search folders
    files = set(FAKE) | {"/venv/mxnet/libnccl.so.2"}
    assert _resolve(files)["libnccl.so.2"] == "/venv/mxnet/libnccl.so.2"


def test_groups_and_no_mxnet():
    assert [env.group_of(s) for s in ("libcuda.so.1", "libcudnn.so.8", "libnccl.so.2", "libcufft.so.10",
                                      "libgomp.so.1")] == ["driver", "cuDNN", "NCCL", "CUDA", "system"]
    ok, line = env.verdict(None, {"_needed_by": {}})
    assert not ok and "make install" in line


def test_elf_reader_on_the_installed_libmxnet():
    lib = env.libmxnet_path()
    if lib is None:
        pytest.skip("no mxnet")
    needed, runpath = env.elf_dynamic(lib)
    assert "libc.so.6" in needed and any(n.startswith("libstdc++") for n in needed)
    assert os.path.dirname(lib) in runpath  # ${ORIGIN} expanded
    libs = env.resolve_closure(lib, env.elf_dynamic, env.search_dirs(), os.path.isfile, env.ldconfig_cache())
    assert all(libs[s] for s in needed)  # this (CPU) environment loads mxnet, so all resolve
    with pytest.raises(ValueError):
        env.elf_dynamic(os.path.join(ROOT, "setup.py"))


def test_preload_plan_takes_the_sonames_in_dependency_order(tmp_path):
    wheels = {"cublas": ["libcublas.so.11", "libcublasLt.so.11", "libnvblas.so.11"],
              "cudnn": ["libcudnn.so.8", "libcudnn_ops_infer.so.8"], "cuda_runtime": ["libcudart.so.11.0"],
              "cuda_nvrtc": ["libnvrtc.so.11.2", "libnvrtc-builtins.so.11.8"]}
    for part, names in wheels.items():
        (tmp_path / "nvidia" / part / "lib").mkdir(parents=True)
        for n in names:
            (tmp_path / "nvidia" / part / "lib" / n).write_bytes(b"")
    dirs = cuda.wheel_lib_dirs([str(tmp_path)])
    assert [os.path.basename(p) for p in cuda.preload_plan(dirs)] == [
        "libcudart.so.11.0", "libnvrtc.so.11.2", "libcublasLt.so.11", "libcublas.so.11", "libcudnn.so.8"]
    assert cuda.wheel_lib_dirs([str(tmp_path / "none")]) == []


def test_refusals_name_the_setting():
    with pytest.raises(InputError, match=r"train.gpus: \[0, 1\] asks for GPUs but this MXNet is the CPU build: "
                                         r"run `make install-gpu`"):
        env.require_gpus([0, 1], build="cpu")
    with pytest.raises(InputError, match="superpixels.gpus: GPU 2 asked for but this machine shows 2 GPU"):
        env.require_gpus([0, 2], key="superpixels.gpus", build="cu112", count=2)
    env.require_gpus([0, 1], build="cu112", count=2)
    env.require_gpus([], build="cpu")
    with pytest.raises(InputError, match="train.kvstore: dist_sync needs .*tools/launch_dist.py"):
        env.require_launcher("dist_sync", role=None)
    env.require_launcher("dist_sync", role="worker")
    env.require_launcher("device", role=None)


def _tool(argv, **kw):
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    e.pop("DMLC_ROLE", None)
    return subprocess.run([sys.executable] + argv, cwd=ROOT, capture_output=True, text=True, env=e, timeout=120)


def test_train_on_gpus_ends_in_one_line(tmp_path):
    proc = _tool(["tools/train.py", "--config", "configs/synthetic_demo.yaml", "train.gpus=[0,1]",
                  f"run_dir={tmp_path}", f"data.root={tmp_path}/none"])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: train.gpus: [0, 1] asks for GPUs") and "make install-gpu" in lines[0]


def test_dist_kvstore_without_launcher_is_refused(monkeypatch):
    from icd_mx.engine.distributed import create_kvstore

    monkeypatch.delenv("DMLC_ROLE", raising=False)
    with pytest.raises(InputError, match="train.kvstore: dist_sync needs"):
        create_kvstore("dist_sync")
    assert create_kvstore("device") == "device"


def test_doctor_on_this_build(tmp_path):
    proc = _tool(["-m", "icd_mx.env", "--config", "configs/synthetic_demo.yaml", f"data.root={tmp_path}"])
    assert "python    3." in proc.stdout and "mxnet     mxnet==1.9.1 (cpu build)" in proc.stdout
    verdicts = [x for x in proc.stdout.splitlines() if x.startswith("verdict")]
    assert len(verdicts) == 1
