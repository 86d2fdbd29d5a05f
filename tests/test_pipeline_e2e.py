"""End to end on a tiny generated mini-VOC: superpixels -> train -> infer -> seeds -> evaluate,
through the tools a user runs; plus resume and bad-input behaviour of the ICD stages."""
import json
import os
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
    base = tmp_path_factory.mktemp("e2e")
    make_minivoc(str(base / "data"), n_train=12, n_val=4, seed=1, num_classes=3, min_side=72, max_side=96)
    ov = [f"data.root={base}/data", f"run_dir={base}/run", "model.width=0.125", "data.crop_size=64",
          "data.infer_size=105", "data.num_workers=0", "train.batch_size=4", "train.epochs=2",
          "train.log_interval=1", "superpixels.features=color", "superpixels.workers=1", "seeds.workers=1"]
    return base, ov


def test_pipeline_runs_and_resumes(tiny):
    base, ov = tiny
    tool("superpixels", *ov, "--list", "train_aug", "--quiet")
    tool("train", *ov)
    run = base / "run"
    assert sorted(p.name for p in (run / "checkpoints").glob("*.json")) == ["epoch-0000.json", "epoch-0001.json"]
    assert (run / "epoch-0001.png").exists() or (run / "previews" / "epoch-0001.png").exists()
    assert (run / "config_train.yaml").exists() and (run / "curve.png").exists()
    # a finished run rerun does nothing; more epochs continue from the last checkpoint
    again = tool("train", *ov, "train.epochs=3")
    assert "epoch-0002" in again.stdout
    tool("infer", *ov)
    ids = (base / "data" / "ImageSets" / "Segmentation" / "train_aug.txt").read_text().split()
    for kind in ("cam", "icd_bu", "icd_bu_sp", "icd_td"):
        files = sorted(f for f in os.listdir(run / "scores" / kind) if f.endswith(".npy"))
        assert len(files) == len(ids)
        arr = np.load(run / "scores" / kind / files[0])
        assert arr.dtype == np.float32 and arr.shape[1:] == (14, 14) and np.isfinite(arr).all()
    assert "0 images written" in tool("infer", *ov).stdout  # resume: nothing left to do
    tool("seeds", *ov, "seeds.variants=[cam:cam_thr, icd_bu:raw, icd_td:crf]", "--quiet")
    tool("evaluate", *ov, "--quiet", "--json", str(base / "all.json"))
    res = json.loads((base / "all.json").read_text())
    for name in ("cam_thr", "icd_bu_raw", "icd_td_crf"):
        assert 0.0 <= res[name]["miou_present"] <= 100.0 and res[name]["images"] == len(ids)
    assert set(res["icd_td"]["sweep"]) == {"0.0", "0.1", "0.3", "0.5"}
    # more training: the old score maps and seeds are stale, never silently reused
    tool("train", *ov, "train.epochs=4")
    stale = tool("infer", *ov, check=False)
    assert stale.returncode == 2 and stale.stderr.count("\n") == 1 and "another checkpoint" in stale.stderr
    assert f"{len(ids)} images written" in tool("infer", *ov, "--overwrite").stdout
    stale = tool("seeds", *ov, "seeds.variants=[icd_bu:raw]", "--quiet", check=False)
    assert stale.returncode == 2 and "another scores" in stale.stderr
    tool("seeds", *ov, "seeds.variants=[icd_bu:raw]", "--quiet", "--overwrite")


def test_release_export_loads_back(tiny):
    import mxnet as mx

    from icd_mx.compat.release import load_params
    from icd_mx.config import load_config
    from icd_mx.nn.icd import ICDNet

    base, ov = tiny
    prefix = sorted((base / "run" / "checkpoints").glob("epoch-*-release.params"))
    if not prefix:
        pytest.skip("pipeline test did not run first")
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
    out = tool("train", *ov, f"data.root={tmp_path}/empty", check=False)
    assert out.returncode == 2 and out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
    out = tool("train", *ov, "model.bu_loss=l2", check=False)
    assert out.returncode == 2 and "model.bu_loss" in out.stderr
