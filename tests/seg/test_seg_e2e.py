"""End to end on a tiny generated set: train_seg (2 iterations) -> resume -> test_seg val/test; bad input."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["seg.width=0.0625", "seg.crop_size=33", "seg.batch_size=2", "seg.epochs=2", "seg.scales=[1.0]",
        "train.max_iters_per_epoch=1", "data.num_workers=0", "seg.test_scales=[0.5,1.0]", "threads=1"]


def _tool(name, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name + ".py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def minivoc(tmp_path_factory):
    from icd_mx.data.synthetic import make_minivoc

    root = str(tmp_path_factory.mktemp("minivoc"))
    make_minivoc(root, n_train=4, n_val=2, seed=0, num_classes=3, min_side=24, max_side=40)
    return root


@pytest.mark.e2e
def test_train_resume_predict_submit(minivoc, tmp_path, miou_reference):
    run = str(tmp_path / "seg")
    base = [f"data.root={minivoc}", f"seg.seeds={minivoc}/SegmentationClassAug", f"run_dir={run}"] + TINY
    r = _tool("train_seg", *base, "seg.epochs=1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert os.path.isfile(os.path.join(run, "checkpoints", "epoch-0000.params"))
    assert os.path.isfile(os.path.join(run, "config_train_seg.yaml"))
    r = _tool("train_seg", *base)  # resumes at epoch 1
    assert r.returncode == 0, r.stderr[-2000:]
    assert os.path.isfile(os.path.join(run, "checkpoints", "epoch-0001.params"))
    r = _tool("test_seg", *base, "seg.split=val")
    assert r.returncode == 0, r.stderr[-2000:]
    with open(os.path.join(run, "eval", "seg_val.json")) as f:
        rec = json.load(f)
    assert rec["images"] == 2 and "tools/test_seg.py" in rec["command"]
    with open(os.path.join(minivoc, "ImageSets", "Segmentation", "val.txt")) as f:
        ids = f.read().split()
    # the recorded mIoU is the predictions' on disk, recomputed apart from icd_mx.metrics
    assert rec["miou_present"] == pytest.approx(miou_reference(minivoc, ids, rec["predictions"]))
    test_list = tmp_path / "test.txt"
    test_list.write_text("\n".join(ids) + "\n")
    r = _tool("test_seg", *base, f"seg.split={test_list}", "seg.crf=true")
    assert r.returncode == 0, r.stderr[-2000:]
    from PIL import Image

    from icd_mx.data.voc import VOCLayout, image_size

    for id_ in ids:
        png = os.path.join(run, "results", "VOC2012", "Segmentation", "comp6_test_cls", id_ + ".png")
        with Image.open(png) as im:
            assert im.mode == "P" and (im.size[1], im.size[0]) == image_size(VOCLayout(minivoc).image(id_))
    assert os.path.isfile(os.path.join(run, "results.tar.gz"))


@pytest.mark.e2e
def test_bad_input_one_line(minivoc, tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    base = [f"data.root={minivoc}", f"seg.seeds={seeds}", f"run_dir={tmp_path / 'run'}"] + TINY
    r = _tool("train_seg", *base)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and str(seeds) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "missing" in r.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = _tool("test_seg", *base, f"seg.split={empty}", f"seg.checkpoint={tmp_path}/x.params")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_seed_size_mismatch_names_the_seed(minivoc, tmp_path):
    import numpy as np

    from icd_mx.config import load_config
    from icd_mx.data.voc import read_list, write_mask
    from icd_mx.errors import InputError
    from icd_mx.data.datasets import SegTrainDataset

    ids = read_list(minivoc, "train_aug")
    for id_ in ids:
        write_mask(str(tmp_path / (id_ + ".png")), np.zeros((5, 7), np.uint8))
    cfg = load_config(None, [f"data.root={minivoc}", f"seg.seeds={tmp_path}", "seg.crop_size=33"])
    ds = SegTrainDataset(cfg.data, cfg.seg, "train_aug")
    with pytest.raises(InputError, match="differs from the image") as e:
        ds.get(0)
    assert e.value.path == str(tmp_path / (ids[0] + ".png"))
