"""Refusals, locks and recovery (docs/reliability.md): each bad input is one InputError
naming the file or key, a second run into a locked folder is refused, a killed or
failed run leaves no temporary file and no half checkpoint behind."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from icd_mx import io
from icd_mx.config import DataConfig, load_config
from icd_mx.data import voc
from icd_mx.data.synthetic import make_minivoc
from icd_mx.engine import fit
from icd_mx.engine.checkpoint import list_checkpoints
from icd_mx.errors import InputError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine"))
from engine_toy import Opt, ToyTask, params_of  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(code, *args, preexec_fn=None, timeout=60):
    """Run ``code`` in a fresh interpreter with the repository on the path."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=timeout, preexec_fn=preexec_fn)


def temps(folder):
    return [os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs if ".tmp" in f]


def tree(folder):
    """``{relative path: bytes}`` of every file under ``folder``."""
    out = {}
    for r, _, fs in os.walk(folder):
        for f in fs:
            with open(os.path.join(r, f), "rb") as fh:
                out[os.path.relpath(os.path.join(r, f), folder)] = fh.read()
    return out


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("rel") / "data")
    make_minivoc(base, 4, 2, 0, 3, 48, 64, saliency=False)
    return base


# -- bad inputs ----------------------------------------------------------------------------------

def test_duplicate_ids_in_a_list_are_refused_naming_the_list(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("a\nb\r\n\n/JPEGImages/c.jpg /SegmentationClassAug/c.png\nb\n")
    with pytest.raises(InputError) as e:
        voc.read_list(str(tmp_path), str(path))
    assert e.value.path == str(path) and "'b'" in e.value.problem and "lines 2 and 5" in e.value.problem
    path.write_text("a\nb\r\n\n/JPEGImages/c.jpg /SegmentationClassAug/c.png\n")
    assert voc.read_list(str(tmp_path), str(path)) == ["a", "b", "c"]


def test_an_empty_list_is_named_not_the_dataset_root(tmp_path, root):
    from icd_mx.data.datasets import ICDTrainDataset

    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    with pytest.raises(InputError) as e:
        ICDTrainDataset(DataConfig(root=root), str(path))
    assert e.value.path == str(path) and "no ids" in e.value.problem


def test_mask_values_outside_the_labels_are_refused(tmp_path, root):
    from icd_mx.metrics import evaluate_seeds

    layout = voc.VOCLayout(root)
    ids = voc.read_list(root, "val")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for i in ids:
        Image.fromarray(voc.read_mask(layout.mask(i))).save(seeds / f"{i}.png")
    assert evaluate_seeds(layout, ids, str(seeds))["images"] == len(ids)
    bad = voc.read_mask(layout.mask(ids[1]))
    bad[:2, :3] = 21
    bad[5, 5] = 128
    Image.fromarray(bad).save(seeds / f"{ids[1]}.png")
    with pytest.raises(InputError) as e:
        evaluate_seeds(layout, ids, str(seeds))
    assert e.value.path == str(seeds / f"{ids[1]}.png") and "21, 128" in e.value.problem
    assert "7 pixels" in e.value.problem


def test_a_ground_truth_mask_of_the_wrong_size_is_named_with_both_sizes(tmp_path, root):
    from icd_mx.metrics import evaluate_seeds

    layout = voc.VOCLayout(root, mask_dir=str(tmp_path / "gt"))
    ids = voc.read_list(root, "val")
    os.makedirs(tmp_path / "gt")
    for i in ids:
        Image.fromarray(voc.read_mask(voc.VOCLayout(root).mask(i))).save(layout.mask(i))
    h, w = voc.image_size(layout.image(ids[0]))
    Image.fromarray(np.zeros((h + 1, w), np.uint8)).save(layout.mask(ids[0]))
    with pytest.raises(InputError) as e:
        evaluate_seeds(layout, ids, str(tmp_path / "gt"))
    assert e.value.path == layout.mask(ids[0]) and f"{h + 1}x{w}" in e.value.problem and f"{h}x{w}" in e.value.problem


@pytest.mark.parametrize("bad", ["nan", "float64", "shape", "classes"])
def test_score_maps_of_the_wrong_dtype_shape_or_with_nan_are_refused(tmp_path, bad):
    from icd_mx.scores import load_scores, score_size

    assert score_size(513) == 65 and score_size(321) == 41 and score_size(105) == 14
    good = np.linspace(-1, 1, 2 * 65 * 65, dtype=np.float32).reshape(2, 65, 65)
    path = str(tmp_path / "x.npy")
    np.save(path, good)
    assert load_scores(path, 2, 50, 60).shape == (2, 50, 60)
    arr = {"nan": np.where(good > 0.99, np.nan, good).astype(np.float32), "float64": good.astype(np.float64),
           "shape": good[:, :64, :64], "classes": good[:1]}[bad]
    np.save(path, arr)
    with pytest.raises(InputError) as e:
        load_scores(path, 2, 50, 60)
    assert e.value.path == path and "\n" not in e.value.problem
    assert {"nan": "non-finite", "float64": "float64", "shape": "(2, 64, 64)", "classes": "(1, 65, 65)"}[bad] \
        in e.value.problem


def test_an_override_typo_names_the_override_not_the_config_file():
    cfg = os.path.join(ROOT, "configs", "synthetic_demo.yaml")
    with pytest.raises(InputError) as e:
        load_config(cfg, ["train.lrr=0.1"])
    assert e.value.path.startswith("train.lrr=0.1") and "'lrr'" in e.value.problem and "lr," in e.value.problem
    with pytest.raises(InputError) as e:
        load_config(cfg, ["train.lr=fast"])
    assert e.value.path.startswith("train.lr=fast") and "float" in e.value.problem
    with pytest.raises(InputError) as e:
        load_config(cfg, ["trian.lr=0.1"])
    assert e.value.path.startswith("trian.lr=0.1")
    assert load_config(cfg, ["train.lr=0.5"]).train.lr == 0.5


# -- output folders ------------------------------------------------------------------------------

def test_a_refusal_names_the_nested_field_that_differs_in_full(tmp_path):
    folder = str(tmp_path / "scores")
    long = "/a/very/long/path/to/the/superpixels/" + "x" * 80
    io.bind_outputs(folder, {"checkpoint": "c" * 40, "model": {"mode": "icd", "width": 0.125}, "sp": long})
    open(os.path.join(folder, "a.npy"), "wb").close()
    with pytest.raises(InputError) as e:
        io.bind_outputs(folder, {"checkpoint": "c" * 40, "model": {"mode": "icd", "width": 0.25}, "sp": long})
    assert "another model.width (0.125 vs now 0.25)" in e.value.problem
    with pytest.raises(InputError) as e:
        io.bind_outputs(folder, {"checkpoint": "c" * 40, "model": {"mode": "icd", "width": 0.125}, "sp": long + "y"})
    assert long + "y" in e.value.problem and "..." not in e.value.problem


def test_an_empty_bound_folder_counts_as_unbound(tmp_path):
    folder = str(tmp_path / "seeds" / "raw")
    io.bind_outputs(folder, {"scores": "old"})  # a stage that failed right after binding
    assert io.check_outputs(folder, {"scores": "new"}) is False
    assert io.bind_outputs(folder, {"scores": "new"}) is False
    assert io.record_digest(folder) == io.file_digest(os.path.join(folder, io.MADE_BY))
    with open(os.path.join(folder, io.MADE_BY)) as f:
        assert '"new"' in f.read()


# -- locks ---------------------------------------------------------------------------------------

HOLD = """
    import sys, time
    from icd_mx.io import run_lock
    with run_lock(sys.argv[1], "train"):
        print("held", flush=True)
        time.sleep(60)
"""


def test_a_second_run_into_a_locked_folder_is_refused_naming_the_holder(tmp_path):
    run = str(tmp_path / "run")
    env = dict(os.environ, PYTHONPATH=ROOT)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), run], stdout=subprocess.PIPE,
                              text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.time()
        with pytest.raises(InputError) as e:
            with io.run_lock(run, "infer"):
                pass
        assert time.time() - t0 < 1.0
        assert e.value.path == run and f"pid {holder.pid}" in e.value.problem and "train" in e.value.problem
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel released the lock with the killed holder; its stale file does not block the next run
    with io.run_lock(run, "infer"):
        with io.run_lock(run, "infer"):  # re-entrant in one process
            assert open(os.path.join(run, io.LOCK_FILE)).read().split() == [str(os.getpid()), "infer"]
    assert os.listdir(run) == []


def test_a_lock_removes_the_temporary_files_of_a_killed_run(tmp_path):
    run = tmp_path / "run"
    (run / "scores" / "cam").mkdir(parents=True)
    stale = [run / "scores" / "cam" / ".a.k2j_x9q1.tmp.npy", run / ".metrics.abcdefgh.tmp.csv"]
    keep = [run / "scores" / "cam" / "a.npy", run / ".hidden.tmp"]
    for p in stale + keep:
        p.write_bytes(b"1")
    with io.run_lock(str(run), "infer"):
        assert not any(p.exists() for p in stale) and all(p.exists() for p in keep)


# -- checkpoints ---------------------------------------------------------------------------------

def test_a_truncated_checkpoint_is_said_to_be_truncated(tmp_path):
    run = str(tmp_path)
    fit(ToyTask(), Opt(epochs=1), run, [mx.cpu()])
    params = os.path.join(run, "checkpoints", "epoch-0000.params")
    data = open(params, "rb").read()
    for cut in (data[: len(data) // 2], b""):
        open(params, "wb").write(cut)
        with pytest.raises(InputError) as e:
            fit(ToyTask(), Opt(epochs=2), run, [mx.cpu()])
        assert e.value.path == params and ("truncated" in e.value.problem or "empty" in e.value.problem)
        assert "Traceback" not in str(e.value) and "\n" not in str(e.value)


KILL_IN_WRITE = """
    import os, signal, sys
    sys.path.insert(0, os.path.join(os.getcwd(), "tests", "engine"))
    import mxnet as mx
    from engine_toy import Opt, ToyTask
    from icd_mx.engine import fit

    task = ToyTask()
    save = task.net.save_parameters

    def killed_while_writing(path, *a, **k):
        save(path, *a, **k)
        if ".epoch-0001." in path:  # the temporary file of epoch 1's parameters is written
            with open(path, "r+b") as f:
                f.truncate(100)
            os.kill(os.getpid(), signal.SIGKILL)

    task.net.save_parameters = killed_while_writing
    fit(task, Opt(epochs=3), sys.argv[1], [mx.cpu()])
"""


def test_resume_after_a_kill_while_writing_a_checkpoint_removes_its_temporary_file(tmp_path):
    run = str(tmp_path / "run")
    out = python(KILL_IN_WRITE, run)
    assert out.returncode == -signal.SIGKILL, out.stderr
    ckpt = os.path.join(run, "checkpoints")
    assert [os.path.basename(t) for t in temps(ckpt)] and os.path.basename(temps(ckpt)[0]).startswith(".epoch-0001.")
    assert [os.path.basename(p) for p in list_checkpoints(ckpt)] == ["epoch-0000"]
    ref = ToyTask()
    fit(ref, Opt(epochs=3), str(tmp_path / "ref"), [mx.cpu()])
    task = ToyTask()
    fit(task, Opt(epochs=3), run, [mx.cpu()])
    assert temps(run) == []
    a, b = params_of(ref.net), params_of(task.net)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert open(os.path.join(ckpt, "epoch-0002.params"), "rb").read() == \
        open(tmp_path / "ref" / "checkpoints" / "epoch-0002.params", "rb").read()


DISK_FULL = """
    import os, resource, sys
    sys.path.insert(0, os.path.join(os.getcwd(), "tests", "engine"))
    import mxnet as mx
    from engine_toy import Opt, ToyTask
    from icd_mx.commands import run_main
    from icd_mx.engine import fit

    class Filling(ToyTask):
        def train_loader(self, epoch, batch_size, shard=(0, 1)):
            if epoch == 1:  # the disk fills up during epoch 1: no file may grow past {limit} bytes
                resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
            return super().train_loader(epoch, batch_size, shard)

    class Wide(Filling):
        def __init__(self):
            super().__init__()
            self.net = mx.gluon.nn.Dense(600, in_units=4)
            self.net.initialize(mx.init.Uniform(0.5))

        def forward_train(self, ctx_batches, step):
            losses = [(self.net(x).sum(axis=1, keepdims=True) - y).square().sum() for x, y in ctx_batches]
            return losses, {{}}

    run_main(fit, {task}(), Opt(epochs={epochs}), sys.argv[1], [mx.cpu()])
"""


@pytest.mark.parametrize("task, limit, failing", [("Wide", 8000, "checkpoints/epoch-0001.params"),  # MXNet
                                                  ("Filling", 20000, "curve.png")])  # matplotlib's writer
def test_a_full_disk_is_one_line_naming_the_file_and_keeps_the_last_checkpoint(tmp_path, task, limit, failing):
    run = str(tmp_path / "run")
    code = DISK_FULL.format(task=task, limit=limit, epochs=2)
    # a full disk is ENOSPC; a file size limit gives the same short writes without a 2 MB file system
    out = python(code, run, preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN))
    assert out.returncode == 1, out.stderr
    line = out.stderr.rstrip("\n").split("\n")[-1]  # after the progress bars
    assert line.startswith("error: ") and "Traceback" not in out.stderr and out.stderr.count("error") == 1
    assert line.split(": ")[1] == os.path.join(run, failing), line
    ckpt = os.path.join(run, "checkpoints")
    assert sorted(os.listdir(ckpt)) == [f"epoch-0000.{x}" for x in ("json", "params", "states")]
    assert temps(run) == []
    ref = str(tmp_path / "ref")
    assert python(DISK_FULL.format(task=task, limit=limit, epochs=1), ref).returncode == 0
    got, want = tree(ckpt), tree(os.path.join(ref, "checkpoints"))
    assert all(got[n] == want[n] for n in got if not n.endswith(".json"))  # the meta holds wall-clock rows
    assert json.loads(got["epoch-0000.json"])["epoch"] == 0
