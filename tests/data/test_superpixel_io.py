"""Superpixel PNG codec: B + 256*G + 65536*R, as OpenCV reads the file."""
import cv2
import numpy as np
import pytest

from icd_mx.data.superpixel_io import decode, encode, read_superpixels, write_superpixels
from icd_mx.errors import InputError


def test_encode_reference():
    ids = np.array([[0, 1, 255], [256, 65536 + 2 * 256 + 3, 2 ** 24 - 1]])
    bgr = encode(ids)
    assert bgr.dtype == np.uint8 and bgr.shape == (2, 3, 3)
    for (y, x), v in np.ndenumerate(ids):
        assert tuple(bgr[y, x]) == (v % 256, (v // 256) % 256, v // 65536)
    np.testing.assert_array_equal(decode(bgr), ids)
    with pytest.raises(ValueError):
        encode(np.array([[2 ** 24]]))


def test_file_round_trip(tmp_path):
    rng = np.random.RandomState(1)
    ids = rng.randint(0, 2 ** 24, (17, 23))
    path = str(tmp_path / "sp" / "a.png")
    write_superpixels(path, ids)
    out = read_superpixels(path, shape=(17, 23))
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, ids)
    # the file itself holds B = low byte in OpenCV's channel order
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(raw[..., 0], ids % 256)
    assert sorted(p.name for p in (tmp_path / "sp").iterdir()) == ["a.png"]  # no temp left


def test_merged_uses_only_blue(tmp_path):
    ids = np.arange(64).reshape(8, 8)
    bgr = encode(ids)
    assert not bgr[..., 1:].any()
    cv2.imwrite(str(tmp_path / "g.png"), ids.astype(np.uint8))  # a gray file is taken as the ids
    np.testing.assert_array_equal(read_superpixels(str(tmp_path / "g.png")), ids)


def test_bad_superpixels(tmp_path):
    path = str(tmp_path / "a.png")
    write_superpixels(path, np.zeros((4, 5), int))
    with pytest.raises(InputError, match="superpixel size 4x5 differs from the image 5x4") as e:
        read_superpixels(path, shape=(5, 4))
    assert e.value.path == path
    with pytest.raises(InputError, match="file not found"):
        read_superpixels(str(tmp_path / "none.png"))
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable"):
        read_superpixels(str(tmp_path / "bad.png"))
