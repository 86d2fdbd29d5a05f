"""The stage tools as a user runs them, on a tiny generated set: two runs into one folder,
a refused resume, a stage that fails on bad input, kill -9 right after an epoch's commit,
an error under a progress bar (docs/reliability.md). Each case: a non-zero exit, no
traceback, one ``error:`` line naming the file or key, no file changed or left behind."""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from icd_mx import io
from icd_mx.config import load_config
from icd_mx.data.synthetic import make_minivoc
from icd_mx.data.voc import VOCLayout, read_labels, read_list

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_reliability import tree  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
pytestmark = pytest.mark.e2e


def tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name + ".py"), *args],
                          capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)


def error_line(out):
    """The ``error:`` line as a terminal shows it (after the progress bars' carriage returns)."""
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("error: ") == 1, out.stderr
    return out.stderr.rstrip("\n").split("\n")[-1].rsplit("\r", 1)[-1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from icd_mx import superpixels
    from icd_mx.stages.superpixels import run_superpixels

    base = tmp_path_factory.mktemp("rel_e2e")
    data = str(base / "data")
    make_minivoc(data, n_train=8, n_val=2, seed=1, num_classes=3, min_side=64, max_side=80, saliency=False)
    ov = [f"data.root={data}", "model.width=0.125", "data.crop_size=48", "data.infer_size=97",
          "data.num_workers=0", "train.batch_size=4", "train.epochs=2", "train.log_interval=1",
          "superpixels.features=color", "seeds.workers=1"]
    cfg = load_config(None, ov)
    layout = VOCLayout(data, cfg.data.superpixel_dir)
    run_superpixels(layout, read_list(data, "train_aug"), cfg.superpixels, superpixels.color_features,
                    progress=False)
    ref = str(base / "ref")
    out = tool("train", *ov, f"run_dir={ref}")
    assert out.returncode == 0, out.stderr
    return base, ov, ref


def test_a_second_run_into_a_run_folder_is_refused_naming_the_first(tiny, tmp_path):
    _, ov, _ = tiny
    run = str(tmp_path / "run")
    first = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "train.py"), *ov, f"run_dir={run}",
                              "train.seed=0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=ENV, cwd=ROOT)
    lock = os.path.join(run, io.LOCK_FILE)
    t0 = time.time()
    while not (os.path.isfile(lock) and os.path.getsize(lock)) and first.poll() is None and time.time() - t0 < 60:
        time.sleep(0.05)
    second = tool("train", *ov, f"run_dir={run}", "train.seed=1")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    line = error_line(second)
    assert line.startswith(f"error: {run}: in use by another run (train, pid {first.pid})"), line
    # nothing of the second run is in the folder: every epoch and the config are the first's
    assert load_config(os.path.join(run, "config_train.yaml")).train.seed == 0
    import json

    for e in (0, 1):
        with open(os.path.join(run, "checkpoints", f"epoch-000{e}.json")) as f:
            assert json.load(f)["opt"]["seed"] == 0
    assert not os.path.exists(lock)


def test_a_refused_resume_changes_nothing_in_the_run(tiny, tmp_path):
    _, ov, ref = tiny
    run = str(tmp_path / "run")
    shutil.copytree(ref, run)
    before = tree(run)
    line = error_line(tool("train", *ov, f"run_dir={run}", "model.width=0.25", "train.epochs=3"))
    assert line.startswith(f"error: {run}/checkpoints/epoch-0001.params: does not match the network"), line
    assert tree(run) == before  # config_train.yaml included


def test_a_failed_stage_binds_nothing_and_the_right_rerun_works(tiny, tmp_path):
    _, ov, ref = tiny
    run = str(tmp_path / "run")
    shutil.copytree(ref, run)
    ov = ov + [f"run_dir={run}"]
    # seeds before any score map, infer from a truncated checkpoint: refused, nothing bound, nothing changed
    before = tree(run)
    line = error_line(tool("seeds", *ov, "seeds.variants=[icd_bu:raw]", "--quiet"))
    assert "score file not found" in line
    bad = str(tmp_path / "bad.params")
    with open(os.path.join(run, "checkpoints", "epoch-0001.params"), "rb") as f:
        open(bad, "wb").write(f.read()[:5000])
    line = error_line(tool("infer", *ov, f"infer.checkpoint={bad}"))
    assert line.startswith(f"error: {bad}: truncated or unreadable"), line
    assert tree(run) == before
    # the right reruns are not refused as "made with another checkpoint"
    out = tool("infer", *ov)
    assert out.returncode == 0, out.stderr
    arr = np.load(os.path.join(run, "scores", "icd_bu", read_list(tiny[0] / "data", "train_aug")[0] + ".npy"))
    assert arr.dtype == np.float32 and arr.shape[1:] == (13, 13)
    out = tool("seeds", *ov, "seeds.variants=[icd_bu:raw]", "--quiet")
    assert out.returncode == 0, out.stderr


KILL_AFTER_COMMIT = """
import os, runpy, signal, sys
import icd_mx.engine.checkpoint as checkpoint

save = checkpoint.save_json


def then_killed(path, obj):
    save(path, obj)
    if path.endswith("epoch-0000.json"):  # the commit mark of epoch 0 is written
        os.kill(os.getpid(), signal.SIGKILL)


checkpoint.save_json = then_killed
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_kill_right_after_an_epoch_commit_keeps_its_export_and_preview(tiny, tmp_path):
    _, ov, ref = tiny
    run = str(tmp_path / "run")
    out = subprocess.run([sys.executable, "-c", KILL_AFTER_COMMIT, os.path.join(ROOT, "tools", "train.py"), *ov,
                          f"run_dir={run}"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert out.returncode == -signal.SIGKILL, out.stderr
    assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == [
        "epoch-0000-release.params", "epoch-0000.json", "epoch-0000.params", "epoch-0000.states"]
    assert os.path.isfile(os.path.join(run, "previews", "epoch-0000.png"))
    out = tool("train", *ov, f"run_dir={run}")
    assert out.returncode == 0, out.stderr
    got, want = tree(run), tree(ref)
    for name in ("checkpoints/epoch-0000-release.params", "checkpoints/epoch-0001-release.params",
                 "checkpoints/epoch-0001.params", "checkpoints/epoch-0001.states", "previews/epoch-0000.png",
                 "previews/epoch-0001.png", "config_train.yaml"):
        assert got[name] == want[name].replace(ref.encode(), run.encode()), name
    assert sorted(got) == sorted(want)


def test_an_error_under_a_progress_bar_starts_its_own_line(tiny, tmp_path):
    base, ov, _ = tiny
    run = tmp_path / "run"
    data = str(base / "data")
    layout = VOCLayout(data)
    ids = read_list(data, "train_aug")
    rng = np.random.default_rng(0)
    for kind in ("cam", "icd_td"):
        (run / "scores" / kind).mkdir(parents=True)
        for i in ids:
            n = len(read_labels(layout.xml(i))) + (kind == "icd_td" and i == ids[-1])  # one class too many
            np.save(run / "scores" / kind / f"{i}.npy", rng.standard_normal((n, 13, 13)).astype(np.float32))
    out = tool("seeds", *ov, f"run_dir={run}", "seeds.variants=[raw]")
    assert "| 7/8 [" in out.stderr  # the bar stood at 7 of 8 images
    line = error_line(out)
    assert line.startswith(f"error: {run / 'scores' / 'icd_td' / ids[-1]}.npy: "), line
