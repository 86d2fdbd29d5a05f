"""Atomic writers and the shared tool plumbing."""
import os
import subprocess
import sys

import numpy as np
import pytest

from icd_mx import commands, io
from icd_mx.errors import InputError


def test_atomic_writers_round_trip(tmp_path):
    io.save_npy(tmp_path / "a" / "x.npy", np.arange(6.0).reshape(2, 3))
    assert np.array_equal(np.load(tmp_path / "a" / "x.npy"), np.arange(6.0).reshape(2, 3))
    io.save_json(tmp_path / "x.json", {"b": 1})
    assert (tmp_path / "x.json").read_text().strip() == '{\n  "b": 1\n}'
    assert sorted(os.listdir(tmp_path / "a")) == ["x.npy"]


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == []


def test_bind_outputs_resumes_refuses_and_overwrites(tmp_path):
    folder = tmp_path / "scores"
    assert io.bind_outputs(folder, {"checkpoint": "abc", "size": 513}) is False
    (folder / "x.npy").write_bytes(b"1")
    assert io.bind_outputs(folder, {"size": 513, "checkpoint": "abc"}) is False   # same record: resume
    assert (folder / "x.npy").exists()
    with pytest.raises(InputError, match="another checkpoint .*abc.* vs now .*def"):
        io.bind_outputs(folder, {"checkpoint": "def", "size": 513})
    assert (folder / "x.npy").exists()                                           # nothing lost
    digest = io.record_digest(folder)
    assert io.bind_outputs(folder, {"checkpoint": "def", "size": 513}, overwrite=True) is True
    assert os.listdir(folder) == [io.MADE_BY] and io.record_digest(folder) != digest
    adopted = tmp_path / "release_superpixels"
    adopted.mkdir()
    (adopted / "a.png").write_bytes(b"1")
    assert io.bind_outputs(adopted, {"k": 75}) is False and (adopted / "a.png").exists()


def test_file_digest_names_the_bytes(tmp_path):
    """The SHA-1 of known bytes (published values, not recomputed here), whatever the
    file's name and however it is read in chunks."""
    (tmp_path / "a").write_bytes(b"weights")
    (tmp_path / "b").write_bytes(b"weights")
    (tmp_path / "empty").write_bytes(b"")
    assert io.file_digest(tmp_path / "a") == io.file_digest(tmp_path / "b") == \
        io.file_digest(tmp_path / "a", chunk=3) == "5cab97f5a209481481ceb0b3c9dab9cba6bd17ce"
    assert io.file_digest(tmp_path / "empty") == "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def test_run_main_prints_one_line(capsys):
    def body():
        raise InputError("some/file.png", "size 3x4 differs from the image 5x6")

    with pytest.raises(SystemExit) as e:
        commands.run_main(body)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: some/file.png: size 3x4 differs from the image 5x6\n"


def test_overrides_anywhere_on_the_line():
    """``section.key=value`` tokens are overrides wherever they stand, never an option's value."""
    from icd_mx.commands import seeds  # noqa: F401 (the parsers live in the package)

    parser = commands.stage_parser("seeds\n")
    parser.add_argument("--run")
    parser.add_argument("--scores", nargs="*")
    args = parser.parse_args(["--config", "C", "data.root=X", "--run", "R", "seeds.variants=[raw, crf]"])
    assert args.config == ["C"] and args.run == "R" and args.overrides == ["data.root=X", "seeds.variants=[raw, crf]"]
    args = parser.parse_args(["--scores", "icd_td", "data.root=X", "name=n"])
    assert args.scores == ["icd_td"] and args.overrides == ["data.root=X", "name=n"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--bogus"])


def test_icd_entry_point_runs_a_stage_from_the_package(tmp_path):
    """``python -m icd_mx <stage>`` (the ``icd`` script) runs the package's command, outside
    the checkout: no tools/ folder needed."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "icd_mx", "make_synthetic", str(tmp_path / "r"), "--train", "2",
                          "--val", "0", "--classes", "2", "--min-side", "32", "--max-side", "40"],
                         capture_output=True, text=True, cwd=str(tmp_path), env=env)
    assert out.returncode == 0, out.stderr
    assert len(os.listdir(tmp_path / "r" / "JPEGImages")) == 2


def test_icd_entry_point_lists_stages():
    out = subprocess.run([sys.executable, "-c", "import sys; from icd_mx.cli import main; sys.exit(main(['--help']))"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "stages:" in out.stdout


def test_install_pins_one_mxnet_build(monkeypatch):
    """setup.py pins every dependency, and exactly one MXNet build: CPU, or CUDA with ICD_MX_GPU=1."""
    import runpy

    import setuptools

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.setattr(setuptools, "setup", lambda **kw: None)
    pinned = runpy.run_path(os.path.join(repo, "setup.py"))["pinned"]
    monkeypatch.delenv("ICD_MX_GPU", raising=False)
    cpu = pinned()
    monkeypatch.setenv("ICD_MX_GPU", "1")
    gpu = pinned()
    assert [r for r in cpu if r.startswith("mxnet")] == ["mxnet==1.9.1"]
    assert [r for r in gpu if r.startswith("mxnet")] == ["mxnet-cu112==1.9.1"]
    assert all("==" in r for r in cpu + gpu)
    for name in ("requirements.txt", "requirements-gpu.txt"):
        lines = [x.split("#")[0].strip() for x in open(os.path.join(repo, name))]
        assert "-r requirements-base.txt" in lines and sum(x.startswith("mxnet") for x in lines) == 1
