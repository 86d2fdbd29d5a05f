"""The generated mini-VOC loads through the VOC readers and has the promised properties."""
import os
import subprocess
import sys

import numpy as np

from icd_mx.data import synthetic
from icd_mx.data.voc import CLASSES, VOCLayout, read_image, read_labels, read_list, read_mask, read_saliency

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_layout_and_readers(tmp_path):
    stats = synthetic.make_minivoc(str(tmp_path), n_train=24, n_val=6, seed=1, num_classes=6)
    assert stats["images"] == 30
    train_aug, train, val = (read_list(str(tmp_path), n) for n in ("train_aug", "train", "val"))
    assert len(train_aug) == 24 and train == train_aug[:12] and len(val) == 6 and not set(val) & set(train_aug)
    lay = VOCLayout(str(tmp_path))
    shapes, multi = set(), 0
    for i in train_aug + val:
        img = read_image(lay.image(i))
        h, w = img.shape[:2]
        shapes.add((h, w))
        assert 120 <= h <= 200 and 120 <= w <= 200
        mask = read_mask(lay.mask(i), shape=(h, w))
        labels = read_labels(lay.xml(i))
        assert max(labels) < 6
        present = set(np.unique(mask)) - {0, 255}
        assert present == {k + 1 for k in labels}   # every label is visible, no unlabelled class
        assert (mask == 255).any()                   # the void band
        multi += len(labels) > 1
        palette_file = os.path.join(str(tmp_path), "SegmentationClass", i + ".png")
        assert os.path.isfile(palette_file) == (i in train or i in val)
        if i in val:
            np.testing.assert_array_equal(read_mask(palette_file), mask)
    assert len(shapes) > 20 and any(h != w for h, w in shapes)
    assert 4 <= multi <= 20
    assert sum(stats["class_images"].values()) >= 30


def test_test_split_and_saliency(tmp_path):
    synthetic.make_minivoc(str(tmp_path), n_train=6, n_val=2, n_test=3, seed=2, num_classes=4)
    test = read_list(str(tmp_path), "test")
    assert len(test) == 3 and not set(test) & set(read_list(str(tmp_path), "train_aug"))
    lay = VOCLayout(str(tmp_path), saliency_dir="Saliency")
    for i in test:
        mask = read_mask(lay.mask(i))
        sal = read_saliency(lay.saliency(i), shape=mask.shape)
        assert sal[(mask > 0) & (mask < 255)].mean() > 0.8 and sal[mask == 0].mean() < 0.2
    synthetic.make_minivoc(str(tmp_path / "none"), n_train=2, n_val=0, seed=2, num_classes=2, saliency=False)
    assert not (tmp_path / "none" / "Saliency").exists()


def test_deterministic_and_not_flat(tmp_path):
    a = synthetic.render_image(np.random.RandomState(4), num_classes=20)
    b = synthetic.render_image(np.random.RandomState(4), num_classes=20)
    np.testing.assert_array_equal(a[0], b[0])
    img, mask, objects = a
    bg = img[mask == 0].astype(float)
    assert bg.std(0).mean() > 10    # textured background (pixel noise alone gives about 5)
    heads = {synthetic.class_design(k)[:2] for k in range(20)}
    bodies = [synthetic.class_design(k)[2:] for k in range(20)]
    assert len(heads) == 20          # heads identify the class
    assert all(bodies[2 * m] == bodies[2 * m + 1] for m in range(10))   # bodies do not


def test_colours_overlap(tmp_path):
    """Object and background colour histograms overlap (colour thresholding cannot separate them)."""
    fg, bg = [], []
    for s in range(20):
        img, mask, _ = synthetic.render_image(np.random.RandomState(s), num_classes=6)
        fg.append(img[(mask > 0) & (mask < 255)] // 64)
        bg.append(img[mask == 0] // 64)
    code = [np.unique(x[:, 0] * 16 + x[:, 1] * 4 + x[:, 2]) for x in (np.concatenate(fg), np.concatenate(bg))]
    assert len(np.intersect1d(*code)) >= 0.8 * len(code[0])


def test_tool(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(REPO, "tools", "make_synthetic.py"), str(tmp_path / "r"),
                          "--train", "4", "--val", "2", "--classes", "3"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert len(os.listdir(tmp_path / "r" / "JPEGImages")) == 6
    assert set(CLASSES[:3]) == set(__import__("json").loads(out.stdout)["class_images"])


def test_generator_version_is_recorded_and_checked(tmp_path):
    """A mini-VOC from another generator version is refused with a one-line error (the demo
    would otherwise reuse it with weights trained on the current drawings)."""
    import json

    import pytest

    from icd_mx.errors import InputError

    root = str(tmp_path / "d")
    synthetic.make_minivoc(root, n_train=2, n_val=0, seed=0, num_classes=2, saliency=False)
    info = os.path.join(root, synthetic.INFO_FILE)
    assert json.load(open(info))["generator_version"] == synthetic.GENERATOR_VERSION
    synthetic.check_generator_version(root)
    with open(info, "w") as f:
        json.dump({"generator_version": synthetic.GENERATOR_VERSION - 1}, f)
    old = synthetic.GENERATOR_VERSION - 1
    with pytest.raises(InputError, match=f"generator version {old}.*remove /x/demo") as e:
        synthetic.check_generator_version(root, "/x/demo")
    assert e.value.path == info and "\n" not in str(e.value)
    os.remove(info)  # a dataset written before the info file existed is version 1
    with pytest.raises(InputError, match="version 1"):
        synthetic.check_generator_version(root)
    with open(info, "w") as f:
        f.write("{not json")
    with pytest.raises(InputError, match="unreadable"):
        synthetic.check_generator_version(root)
