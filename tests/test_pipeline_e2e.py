"""End to end on a tiny generated mini-VOC: superpixels -> train -> infer -> seeds -> evaluate,
through the tools a user runs; plus resume and bad-input behaviour of the ICD stages.

Every test starts from the module's trained run (:func:`trained`) and works on its own copy,
so the tests pass in any order and alone."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from icd_mx.data.synthetic import make_minivoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.e2e


def tool(name, *args, check=True):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", name + ".py"), *args],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    if check and out.returncode:
        raise AssertionError(f"{name} failed ({out.returncode}): {out.stderr[-2000:]}")
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The generated data and the overrides of every stage (no run yet)."""
    base = tmp_path_factory.mktemp("e2e")
    make_minivoc(str(base / "data"), n_train=12, n_val=4, seed=1, num_classes=3, min_side=72, max_side=96)
    ov = [f"data.root={base}/data", "model.width=0.125", "data.crop_size=64",
          "data.infer_size=105", "data.num_workers=0", "train.batch_size=4", "train.epochs=2",
          "train.log_interval=1", "superpixels.features=color", "superpixels.workers=1", "seeds.workers=1"]
    tool("superpixels", *ov, "--list", "train_aug", "--quiet")
    return base, ov


@pytest.fixture(scope="module")
def trained(tiny):
    """A 2-epoch ICD run on the tiny data: ``(base, overrides, run folder, the train tool's output)``."""
    base, ov = tiny
    run = base / "run"
    out = tool("train", *ov, f"run_dir={run}")
    return base, ov, run, out


def _copy(trained, tmp_path):
    """The trained run copied to a folder of this test's own: ``(overrides, run)``."""
    base, ov, run, _ = trained
    mine = tmp_path / "run"
    shutil.copytree(run, mine)
    return ov + [f"run_dir={mine}"], mine


def _ids(trained):
    return (trained[0] / "data" / "ImageSets" / "Segmentation" / "train_aug.txt").read_text().split()


def test_train_writes_its_run_and_prints_each_epoch(trained):
    _, _, run, out = trained
    assert sorted(p.name for p in (run / "checkpoints").glob("*.json")) == ["epoch-0000.json", "epoch-0001.json"]
    assert sorted(p.name for p in (run / "previews").glob("*.png")) == ["epoch-0000.png", "epoch-0001.png"]
    assert (run / "config_train.yaml").exists() and (run / "curve.png").exists()
    # one summary line per epoch on the console (docs/architecture.md, "Logging"), the same in log.txt
    shown = [x for x in re.split(r"[\r\n]", out.stderr) if re.match(r"epoch \d+/2: loss ", x)]
    assert [x.split(":")[0] for x in shown] == ["epoch 1/2", "epoch 2/2"], out.stderr
    assert all("lr " in x and "img/s " in x and "ETA " in x for x in shown)
    logged = (run / "log.txt").read_text()
    assert all(x in logged for x in shown)


def test_train_resumes_after_the_last_checkpoint(trained, tmp_path):
    ov, run = _copy(trained, tmp_path)
    again = tool("train", *ov, "train.epochs=3")
    assert "epoch-0002" in again.stdout
    assert sorted(p.name for p in (run / "checkpoints").glob("*.json"))[-1] == "epoch-0002.json"
    assert [x for x in again.stderr.splitlines() if x.startswith("epoch 3/3: loss ")]  # only the new epoch runs
    assert not [x for x in again.stderr.splitlines() if x.startswith("epoch 1/3: ")]


def test_scores_seeds_and_evaluation(trained, tmp_path, miou_reference):
    ov, run = _copy(trained, tmp_path)
    base, ids = trained[0], _ids(trained)
    tool("infer", *ov)
    for kind in ("cam", "icd_bu", "icd_bu_sp", "icd_td"):
        files = sorted(f for f in os.listdir(run / "scores" / kind) if f.endswith(".npy"))
        assert len(files) == len(ids)
        arr = np.load(run / "scores" / kind / files[0])
        assert arr.dtype == np.float32 and arr.shape[1:] == (14, 14) and np.isfinite(arr).all()
    assert "0 images written" in tool("infer", *ov).stdout  # resume: nothing left to do
    # overrides anywhere on the line, among the options
    tool("seeds", *ov[:2], "--quiet", *ov[2:], "seeds.variants=[cam:cam_thr, icd_bu:raw, icd_td:crf]")
    tool("evaluate", "--quiet", *ov, "--json", str(tmp_path / "all.json"), "--scores", "icd_td", "cam",
         f"data.root={base}/data")
    res = json.loads((tmp_path / "all.json").read_text())
    assert set(res) == {"cam_thr", "icd_bu_raw", "icd_td_crf", "icd_td", "cam"}
    for name in ("cam_thr", "icd_bu_raw", "icd_td_crf"):
        assert res[name]["images"] == len(ids)
        # the stage's number is the files' number, recomputed apart from icd_mx.metrics
        assert res[name]["miou_present"] == pytest.approx(miou_reference(base / "data", ids, run / "seeds" / name))
        assert json.loads((run / "eval" / f"seeds_{name}.json").read_text()) == res[name]
    # the CAM baseline labels every pixel (docs/method.md, "Seeds"): no 255 in its files
    from PIL import Image

    assert all(np.array(Image.open(run / "seeds" / "cam_thr" / f"{i}.png")).max() < 21 for i in ids)
    assert set(res["icd_td"]["sweep"]) == {"0.0", "0.1", "0.3", "0.5"}


def test_stale_scores_and_seeds_are_refused(trained, tmp_path):
    ov, run = _copy(trained, tmp_path)
    n = len(_ids(trained))
    tool("infer", *ov)
    tool("seeds", *ov, "seeds.variants=[icd_bu:raw]", "--quiet")
    # more training: the old score maps and seeds are stale, never silently reused
    tool("train", *ov, "train.epochs=3")
    stale = tool("infer", *ov, check=False)
    assert stale.returncode == 2 and stale.stderr.count("\n") == 1 and "another checkpoint" in stale.stderr
    assert f"{n} images written" in tool("infer", *ov, "--overwrite").stdout
    stale = tool("seeds", *ov, "seeds.variants=[icd_bu:raw]", "--quiet", check=False)
    assert stale.returncode == 2 and "another scores" in stale.stderr
    tool("seeds", *ov, "seeds.variants=[icd_bu:raw]", "--quiet", "--overwrite")


def test_release_export_loads_back(trained):
    import mxnet as mx

    from icd_mx.compat.release import load_params
    from icd_mx.config import load_config
    from icd_mx.nn.icd import ICDNet

    _, ov, run, _ = trained
    prefix = sorted((run / "checkpoints").glob("epoch-*-release.params"))
    assert [p.name for p in prefix] == ["epoch-0000-release.params", "epoch-0001-release.params"]
    cfg = load_config(None, ov)
    ours, theirs = ICDNet(cfg.model), ICDNet(cfg.model)
    load_params(ours, str(prefix[-1]).replace("-release", ""), ctx=mx.cpu())
    assert load_params(theirs, str(prefix[-1]), ctx=mx.cpu())["format"] == "release"
    a, b = ours.collect_params(), theirs.collect_params()
    for (na, pa), (nb, pb) in zip(sorted(a.items()), sorted(b.items())):
        assert np.array_equal(pa.data().asnumpy(), pb.data().asnumpy()), na


def test_bad_inputs_give_one_line(tiny, tmp_path):
    base, ov = tiny
    out = tool("infer", *ov, f"run_dir={tmp_path}/none", check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "no complete checkpoint" in out.stderr
    out = tool("train", *ov, f"run_dir={tmp_path}/r", f"data.root={tmp_path}/empty", check=False)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
    out = tool("train", *ov, f"run_dir={tmp_path}/r", "model.bu_loss=l2", check=False)
    assert out.returncode == 2 and "model.bu_loss" in out.stderr
