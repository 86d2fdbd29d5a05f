"""Atomic writers and the shared tool plumbing."""
import os
import subprocess
import sys

import numpy as np
import pytest

from icd_mx import cli, io
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


def test_run_main_prints_one_line(capsys):
    def body():
        raise InputError("some/file.png", "size 3x4 differs from the image 5x6")

    with pytest.raises(SystemExit) as e:
        cli.run_main(body)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: some/file.png: size 3x4 differs from the image 5x6\n"


def test_icd_entry_point_lists_stages():
    out = subprocess.run([sys.executable, "-c", "import sys; from icd_mx.cli import main; sys.exit(main(['--help']))"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "stages:" in out.stdout
