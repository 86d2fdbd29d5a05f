"""Tools end to end on a tiny generated set: superpixels, seeds (resume, errors), evaluate."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from icd_mx import io
from icd_mx.data import superpixel_io, voc
from icd_mx.data.synthetic import make_minivoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.e2e


def tool(name, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", name + ".py"), *args, "--quiet"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def fake_scores(gt, labels, rng, noise):
    """(n, 65, 65) maps: +1 on the class, -1 elsewhere, on the 513 canvas (as inference writes)."""
    h, w = gt.shape
    out = []
    for c in labels:
        canvas = np.full((513, 513), -1.0, np.float32)
        canvas[:h, :w] = np.where(gt == c + 1, 1.0, -1.0) + noise * rng.standard_normal((h, w))
        out.append(cv2.resize(canvas, (65, 65), interpolation=cv2.INTER_AREA))
    return np.array(out, np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("minivoc")
    make_minivoc(str(root), 4, 2, 0, 3, 100, 140)
    run = root / "run"
    rng = np.random.default_rng(0)
    layout = voc.VOCLayout(str(root))
    for id_ in voc.read_list(str(root), "train_aug"):
        gt = voc.read_mask(layout.mask(id_))
        labels = voc.read_labels(layout.xml(id_))
        for kind, noise in (("icd_td", 0.1), ("icd_bu", 0.6), ("cam", 0.3)):
            os.makedirs(run / "scores" / kind, exist_ok=True)
            np.save(run / "scores" / kind / f"{id_}.npy", fake_scores(gt, labels, rng, noise))
    return root, run


def common(root, run):
    return ["--run", str(run), f"data.root={root}", "seeds.workers=2",
            "seeds.variants=[raw, crf, cam_thr, 'icd_bu:raw']"]


def test_seeds_resume_and_evaluate(tiny):
    root, run = tiny
    r = tool("seeds", *common(root, run))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["skipped"] == 0
    ids = voc.read_list(str(root), "train_aug")
    for v in ("raw", "crf", "cam_thr", "icd_bu_raw"):
        assert sorted(f for f in os.listdir(run / "seeds" / v) if f != io.MADE_BY) == sorted(i + ".png" for i in ids)
        assert len(os.listdir(run / "seeds" / (v + "_color"))) == len(ids) + 1  # + the record
    first = {i: voc.read_mask(str(run / "seeds" / "crf" / f"{i}.png")) for i in ids}
    os.remove(run / "seeds" / "crf" / f"{ids[1]}.png")
    r = tool("seeds", *common(root, run))
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["skipped"] == len(ids) - 1
    assert np.array_equal(voc.read_mask(str(run / "seeds" / "crf" / f"{ids[1]}.png")), first[ids[1]])

    out = run / "all.json"
    r = tool("evaluate", "--run", str(run), f"data.root={root}", "--json", str(out), "--bins", "1000")
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    present = lambda v: np.mean(res[v]["iou"][:4])  # noqa: E731  (background + the 3 generated classes)
    assert present("raw") > 60 and present("raw") >= present("icd_bu_raw") - 1e-9
    assert res["raw"]["miou"] == pytest.approx(np.mean(res["raw"]["iou"]))
    assert set(res["icd_td"]["sweep"]) == {"0.0", "0.1", "0.3", "0.5"}
    assert res["icd_td"]["map"] > 80
    assert (run / "eval" / "seeds_crf.json").is_file() and (run / "eval" / "scores_cam.json").is_file()
    assert "mIoU" in r.stdout


def test_missing_score_file_is_one_line_error(tiny, tmp_path):
    root, run = tiny
    r = tool("seeds", "--run", str(tmp_path / "norun"), f"data.root={root}")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and "score file not found" in r.stderr


def test_superpixels_tool_color_features(tiny):
    root, _ = tiny
    args = [f"data.root={root}", "superpixels.features=color", "superpixels.workers=2", "superpixels.max_regions=16"]
    r = tool("superpixels", *args)
    assert r.returncode == 0, r.stderr
    layout = voc.VOCLayout(str(root))
    ids = voc.read_list(str(root), "train_aug") + voc.read_list(str(root), "val")
    for i in ids:
        sp = superpixel_io.read_superpixels(layout.superpixel(i))
        assert sp.max() < 16 and sp.shape == voc.image_size(layout.image(i))
    r = tool("superpixels", *args)
    assert json.loads(r.stdout.splitlines()[-1])["skipped"] == len(ids)
    r = tool("superpixels", f"data.root={root}", "data.superpixel_dir=other")
    assert r.returncode == 2 and "feature_params" in r.stderr
