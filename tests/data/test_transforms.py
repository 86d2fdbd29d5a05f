"""ICD augmentation geometry: image and superpixels stay aligned; padding; re-indexing; inference."""
import cv2
import numpy as np
import pytest

from icd_mx.data.transforms import infer_transform, reindex, train_transform


def _aligned_pair(h, w, block=6, seed=0):
    """Superpixels = blocks with random ids; the image's R channel stores the block id
    (ids < 128 so they never collide with the pad value 127 ... the G channel flags content)."""
    rng = np.random.RandomState(seed)
    by, bx = (h + block - 1) // block, (w + block - 1) // block
    labels = rng.permutation(10 * by * bx)[: by * bx].reshape(by, bx) * 3 + 1000
    sp = np.kron(labels, np.ones((block, block), int))[:h, :w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = np.kron(np.arange(by * bx).reshape(by, bx) % 97, np.ones((block, block)))[:h, :w]
    img[..., 1] = 255
    img[..., 2] = np.kron(np.arange(by * bx).reshape(by, bx) // 97, np.ones((block, block)))[:h, :w]
    return img, sp


@pytest.mark.parametrize("seed", range(12))
def test_train_alignment_and_padding(seed):
    img, sp = _aligned_pair(37, 53, seed=seed)
    crop = 48
    out, osp = train_transform(img, sp, np.random.RandomState(seed), crop, scales=(0.5, 1.0, 1.5))
    assert out.shape == (3, crop, crop) and out.dtype == np.float32
    assert osp.shape == (crop, crop) and osp.dtype == np.int32
    # re-indexed to 0..K-1
    assert set(np.unique(osp)) == set(range(osp.max() + 1))
    pad = out[1] == 127  # content pixels have G = 255 (also after bilinear)
    content = out[1] == 255
    if pad.any():
        # padding: 127 on every channel, one superpixel id of its own, the largest
        assert np.all(out[:, pad] == 127)
        assert len(np.unique(osp[pad])) == 1 and osp[pad][0] == osp.max()
        assert not np.isin(osp[pad][0], osp[content])
    # alignment: on block interiors (away from bilinear mixing) the image's block code
    # is constant inside each superpixel and differs between superpixels
    code = out[0] + 97 * out[2]
    padded = np.pad(osp, 1, mode="edge")
    interior = np.all([padded[1 + dy:1 + dy + crop, 1 + dx:1 + dx + crop] == osp
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    exact = content & interior & (np.abs(code - np.round(code)) < 1e-3)
    codes = {}
    for c, s in zip(np.round(code[exact]).astype(int), osp[exact]):
        codes.setdefault(s, set()).add(c)
    assert all(len(v) == 1 for v in codes.values())
    assert len({next(iter(v)) for v in codes.values()}) == len(codes)


def test_train_scale_and_flip_reference():
    """scale 1, flip forced: crop equals the reference flip + pad + crop of the input."""
    img, sp = _aligned_pair(20, 30)

    class Rng:  # the draws, in order: scale index, flip, top, left
        def __init__(self):
            self.ints = [0, 3, 5]

        def randint(self, n):
            v = self.ints.pop(0)
            assert v < n
            return v

        def rand(self):
            return 0.1   # < 0.5: flip

    out, osp = train_transform(img, sp, Rng(), 16, scales=(1.0,))
    ref = img[:, ::-1][3:19, 5:21]
    np.testing.assert_array_equal(out, ref.transpose(2, 0, 1))
    np.testing.assert_array_equal(osp, reindex(sp[:, ::-1][3:19, 5:21]))


def test_train_scale_sizes():
    """Scale s gives int(h*s + .5) x int(w*s + .5), the release's explicit cv2.resize size (41 * 0.5
    gives 21 rows; fx/fy factors or Python's round would give 20): a crop larger than the result
    shows exactly that much content."""
    img, sp = _aligned_pair(41, 30)
    for s in (0.5, 0.75, 1.25):
        rng = np.random.RandomState(0)
        out, osp = train_transform(img, sp, rng, 80, scales=(s,))
        content = out[1] != 127
        assert content.sum(0).max() == int(41 * s + .5) and content.sum(1).max() == int(30 * s + .5)
        assert content[0, 0] and not content[-1, -1]   # top-left anchored


def test_train_resizes_the_uint8_image():
    """The release resizes the uint8 image, so the scaled pixels are rounded to integers."""
    rng = np.random.RandomState(3)
    img = rng.randint(0, 256, (40, 50, 3)).astype(np.uint8)
    sp = np.zeros((40, 50), np.int32)
    out, _ = train_transform(img, sp, np.random.RandomState(0), 64, scales=(0.75,))
    expected = cv2.resize(img, (int(50 * 0.75 + .5), int(40 * 0.75 + .5)), interpolation=cv2.INTER_LINEAR)
    got = out.transpose(1, 2, 0)[:expected.shape[0], :expected.shape[1]]
    if not np.array_equal(got[:, :, 0], expected[:, :, 0]):  # the draw flipped it
        got = got[:, ::-1]
    np.testing.assert_array_equal(got, expected)


def test_reindex():
    sp = np.array([[7, 7, 3], [100, 3, 7]])
    np.testing.assert_array_equal(reindex(sp), [[1, 1, 0], [2, 0, 1]])


def test_determinism():
    img, sp = _aligned_pair(50, 60)
    a = train_transform(img, sp, np.random.RandomState(5), 32)
    b = train_transform(img, sp, np.random.RandomState(5), 32)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_infer_transform():
    img, sp = _aligned_pair(30, 45)
    out, osp, hw = infer_transform(img, sp, size=64)
    assert hw == (30, 45) and out.shape == (3, 64, 64) and osp.shape == (64, 64)
    np.testing.assert_array_equal(out[:, :30, :45], img.transpose(2, 0, 1))
    assert np.all(out[:, 30:] == 127) and np.all(out[:, :, 45:] == 127)
    np.testing.assert_array_equal(osp[:30, :45], reindex(sp))
    k = reindex(sp).max() + 1
    assert np.all(osp[30:] == k) and np.all(osp[:, 45:] == k)
    with pytest.raises(ValueError, match="larger"):
        infer_transform(img, sp, size=40)
    with pytest.raises(ValueError, match="differ"):
        infer_transform(img, sp[:-1], size=64)
