"""ICD datasets and the deterministic loader on a tiny generated root."""
import logging
import os

import numpy as np
import pytest

from icd_mx.config import DataConfig
from icd_mx.data.datasets import ICDInferDataset, ICDTrainDataset, make_loader, sample_rng
from icd_mx.data.superpixel_io import write_superpixels
from icd_mx.data.synthetic import make_minivoc
from icd_mx.data.voc import VOCLayout, read_image, read_list
from icd_mx.errors import InputError


def _grid_superpixels(root, ids, block=16):
    lay = VOCLayout(root)
    for i in ids:
        h, w = read_image(lay.image(i)).shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        write_superpixels(lay.superpixel(i), (yy // block) * 100 + xx // block)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("minivoc"))
    make_minivoc(root, n_train=10, n_val=2, seed=3, num_classes=6, min_side=40, max_side=70)
    _grid_superpixels(root, read_list(root, "train_aug") + read_list(root, "val"))
    return root


def _cfg(root, **kw):
    return DataConfig(root=root, crop_size=48, scales=[0.75, 1.0, 1.25], infer_size=80, **kw)


def _batches(loader):
    return [[a.asnumpy() for a in batch] for batch in loader]


def test_train_items(root):
    ds = ICDTrainDataset(_cfg(root), "train_aug")
    assert len(ds) == 10
    img, sp, label = ds[0]
    assert img.shape == (3, 48, 48) and img.dtype == np.float32
    assert sp.shape == (48, 48) and sp.dtype == np.int32 and sp.min() == 0
    assert label.shape == (20,) and label.dtype == np.float32 and 1 <= label.sum() <= 3
    assert label[6:].sum() == 0   # num_classes=6
    # the same (seed, epoch, index) gives the same item, another epoch another crop
    np.testing.assert_array_equal(ds.get(3, 1, 2)[0], ds.get(3, 1, 2)[0])
    assert sample_rng(1, 2, 3).randint(1 << 30) != sample_rng(1, 3, 3).randint(1 << 30)


def test_infer_items(root):
    ds = ICDInferDataset(_cfg(root), read_list(root, "val"))
    img, sp, label, index = ds[1]
    h, w = ds.original_size(1)
    assert index == 1 and img.shape == (3, 80, 80) and sp.shape == (80, 80)
    np.testing.assert_array_equal(img[:, :h, :w], read_image(ds.layout.image(ds.ids[1])).transpose(2, 0, 1))
    assert np.all(img[:, h:] == 127) and np.all(sp[h:] == sp.max())


def test_loader_independent_of_workers(root):
    ds = ICDTrainDataset(_cfg(root), "train_aug")
    a = _batches(make_loader(ds, 4, shuffle=True, num_workers=0, seed=7, epoch=1, last_batch="keep"))
    b = _batches(make_loader(ds, 4, shuffle=True, num_workers=2, seed=7, epoch=1, last_batch="keep"))
    assert [x[0].shape[0] for x in a] == [4, 4, 2]
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    c = _batches(make_loader(ds, 4, shuffle=True, num_workers=0, seed=7, epoch=2, last_batch="discard"))
    assert len(c) == 2 and not np.array_equal(a[0][0], c[0][0])


def test_missing_files_error_names_first_and_count(root):
    ids = read_list(root, "train_aug") + ["ghost_1", "ghost_2"]
    with pytest.raises(InputError, match=r"file not found \(6 missing files in 2 of 12 samples\)") as e:
        ICDTrainDataset(_cfg(root), ids)
    assert e.value.path.endswith(os.path.join("JPEGImages", "ghost_1.jpg"))
    ds = ICDTrainDataset(_cfg(root, on_bad_sample="skip"), ids)
    assert len(ds) == 10


def _bad_root(tmp_path, root):
    """A copy of three samples: one truncated JPEG, one superpixel map of the wrong size."""
    import shutil

    ids = read_list(root, "train_aug")[:3]
    lay, new = VOCLayout(root), VOCLayout(str(tmp_path))
    for i in ids:
        for a, b in ((lay.image(i), new.image(i)), (lay.xml(i), new.xml(i)), (lay.superpixel(i), new.superpixel(i))):
            os.makedirs(os.path.dirname(b), exist_ok=True)
            shutil.copy(a, b)
    data = open(new.image(ids[0]), "rb").read()
    open(new.image(ids[0]), "wb").write(data[: len(data) // 2])
    write_superpixels(new.superpixel(ids[1]), np.zeros((5, 5), int))
    return ids, new


def test_bad_samples_error_and_skip(tmp_path, root, caplog):
    ids, new = _bad_root(tmp_path, root)
    ds = ICDTrainDataset(_cfg(str(tmp_path)), ids)
    with pytest.raises(InputError, match="truncated JPEG"):
        ds[0]
    with pytest.raises(InputError, match="superpixel size 5x5 differs from the image"):
        ds[1]
    for workers in (0, 2):   # the error crosses the worker boundary intact
        with pytest.raises(InputError, match="truncated JPEG"):
            _batches(make_loader(ds, 3, num_workers=workers))
    skip = ICDTrainDataset(_cfg(str(tmp_path), on_bad_sample="skip"), ids)
    loader = make_loader(skip, 3, num_workers=0)
    with caplog.at_level(logging.WARNING):
        (img, sp, label), = _batches(loader)
    assert img.shape == (3, 3, 48, 48) and len(loader.skipped) == 2
    assert "2 bad samples replaced" in caplog.text
    np.testing.assert_array_equal(label[0], label[2])   # replaced by the next good sample


def test_bad_xml_at_construction(tmp_path, root):
    ids, new = _bad_root(tmp_path, root)
    open(new.xml(ids[2]), "w").write("<annotation><object><name>unicorn</name></object></annotation>")
    with pytest.raises(InputError, match="unknown class name 'unicorn'"):
        ICDTrainDataset(_cfg(str(tmp_path)), ids)
    assert len(ICDTrainDataset(_cfg(str(tmp_path), on_bad_sample="skip"), ids)) == 2


def test_unmerged_superpixels_are_refused_not_dropped(tmp_path, root):
    """Raw FH superpixels (more ids than the refinement's one-hot holds) give a one-line error."""
    import shutil

    i = read_list(root, "train_aug")[0]
    lay, new = VOCLayout(root), VOCLayout(str(tmp_path))
    for a, b in ((lay.image(i), new.image(i)), (lay.xml(i), new.xml(i))):
        os.makedirs(os.path.dirname(b), exist_ok=True)
        shutil.copy(a, b)
    h, w = read_image(lay.image(i)).shape[:2]
    write_superpixels(new.superpixel(i), np.arange(h * w).reshape(h, w) % 100)
    ds = ICDTrainDataset(_cfg(str(tmp_path)), [i])
    with pytest.raises(InputError, match="100 superpixels, more than the 64") as e:
        ds[0]
    assert e.value.path == new.superpixel(i)
    assert ICDTrainDataset(_cfg(str(tmp_path)), [i], max_superpixels=101)[0][1].max() < 101
