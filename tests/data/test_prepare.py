"""SBD conversion on generated .mat files, and the dataset-root check."""
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.io import savemat

from icd_mx.data import prepare
from icd_mx.data.superpixel_io import write_superpixels
from icd_mx.data.synthetic import make_minivoc
from icd_mx.data.voc import VOCLayout, read_list, read_mask, write_color_mask
from icd_mx.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sbd(folder, segs, lists):
    os.makedirs(os.path.join(folder, "cls"))
    for id_, seg in segs.items():
        gt = {"Segmentation": seg.astype(np.uint8), "Boundaries": np.zeros((1, 20), object), "CategoriesPresent": 1}
        savemat(os.path.join(folder, "cls", id_ + ".mat"), {"GTcls": gt})
    for name, ids in lists.items():
        with open(os.path.join(folder, name + ".txt"), "w") as f:
            f.write("".join(i + "\n" for i in ids))


def test_read_sbd_mat(tmp_path):
    seg = np.random.RandomState(0).randint(0, 21, (7, 9))
    _sbd(str(tmp_path), {"a": seg}, {})
    np.testing.assert_array_equal(prepare.read_sbd_mat(str(tmp_path / "cls" / "a.mat")), seg)
    savemat(str(tmp_path / "bad.mat"), {"other": 1})
    with pytest.raises(InputError, match="not an SBD GTcls"):
        prepare.read_sbd_mat(str(tmp_path / "bad.mat"))


def test_build_aug(tmp_path):
    voc = tmp_path / "voc"
    lay = VOCLayout(str(voc))
    seg = {i: np.full((4, 5), n, np.uint8) for n, i in enumerate(["v1", "v2", "s1", "s2", "s3"])}
    for i in ("v1", "v2"):
        write_color_mask(os.path.join(str(voc), "SegmentationClass", i + ".png"), seg[i])
    os.makedirs(os.path.dirname(lay.list_path("train")))
    open(lay.list_path("train"), "w").write("v1\n")
    open(lay.list_path("val"), "w").write("v2\n")
    # SBD holds a different mask for v1 (VOC wins) and v2 (a VOC val id: not in train_aug)
    sbd_seg = dict(seg, v1=np.full((4, 5), 9), v2=np.full((4, 5), 9))
    _sbd(str(tmp_path / "sbd"), {i: sbd_seg[i] for i in ("v1", "v2", "s1", "s2", "s3")},
         {"train": ["v1", "s1", "s2"], "val": ["v2", "s3"]})
    out = subprocess.run([sys.executable, os.path.join(REPO, "tools", "prepare_voc.py"), "--voc", str(voc),
                          "--sbd", str(tmp_path / "sbd")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert read_list(str(voc), "train_aug") == ["s1", "s2", "s3", "v1"]
    for i in seg:
        np.testing.assert_array_equal(read_mask(lay.mask(i)), seg[i])


def test_check_report(tmp_path):
    root = str(tmp_path)
    make_minivoc(root, n_train=4, n_val=2, seed=0, num_classes=3, min_side=30, max_side=40)
    lay = VOCLayout(root)
    ids = read_list(root, "train_aug")
    for i in ids + read_list(root, "val"):
        h, w = read_mask(lay.mask(i)).shape
        write_superpixels(lay.superpixel(i), np.zeros((h, w), int))
    assert prepare.report_ok(prepare.check_root(root))
    os.remove(lay.image(ids[0]))
    write_superpixels(lay.superpixel(ids[1]), np.zeros((3, 3), int))
    report = prepare.check_root(root, lists=("train_aug", "test"))
    text = prepare.format_report(report)
    assert not prepare.report_ok(report)
    assert "train_aug: 4 ids; missing: image 1; size mismatch: superpixels 1" in text
    assert "differs from the image" in text and "test: list not found" in text
    tool = [sys.executable, os.path.join(REPO, "tools", "prepare_voc.py")]
    out = subprocess.run(tool + ["--check", root, "--lists", "train_aug"], capture_output=True, text=True)
    assert out.returncode == 1 and "missing: image 1" in out.stdout


def test_tool_error_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(REPO, "tools", "prepare_voc.py"), "--voc", str(tmp_path),
                          "--sbd", str(tmp_path / "none")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
