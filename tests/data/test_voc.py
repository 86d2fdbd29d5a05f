"""VOC readers: lists, images (incl. grayscale / CMYK / truncated JPEG), XML labels, masks, palette."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from icd_mx.data import voc
from icd_mx.errors import InputError


def _xml(path, objects):
    body = "".join(f"<object><name>{n}</name><difficult>{d}</difficult></object>" for n, d in objects)
    with open(path, "w") as f:
        f.write(f"<annotation><filename>x.jpg</filename>{body}</annotation>")
    return str(path)


def _jpeg(path, arr, mode=None):
    Image.fromarray(arr, mode).save(str(path), format="JPEG", quality=95)
    return str(path)


def test_classes_and_layout(tmp_path):
    assert len(voc.CLASSES) == voc.NUM_CLASSES == 20
    assert voc.CLASSES[0] == "aeroplane" and voc.CLASSES[14] == "person" and voc.CLASSES[19] == "tvmonitor"
    lay = voc.VOCLayout(tmp_path, superpixel_dir="sp", saliency_dir="sal")
    assert lay.image("a") == os.path.join(str(tmp_path), "JPEGImages", "a.jpg")
    assert lay.xml("a").endswith(os.path.join("Annotations", "a.xml"))
    assert lay.mask("a").endswith(os.path.join("SegmentationClassAug", "a.png"))
    assert lay.superpixel("a") == os.path.join(str(tmp_path), "sp", "a.png")
    assert lay.saliency("a") == os.path.join(str(tmp_path), "sal", "a.png")
    assert voc.VOCLayout(tmp_path, superpixel_dir="/abs/sp").superpixel("a") == "/abs/sp/a.png"
    with pytest.raises(InputError):
        voc.VOCLayout(tmp_path).saliency("a")


def test_read_list(tmp_path):
    d = tmp_path / "ImageSets" / "Segmentation"
    d.mkdir(parents=True)
    (d / "mine.txt").write_text("a\n\nb\n")
    assert voc.read_list(tmp_path, "mine") == ["a", "b"]
    other = tmp_path / "x.txt"
    other.write_text("/JPEGImages/c.jpg /SegmentationClassAug/c.png\n")
    assert voc.read_list(tmp_path, str(other)) == ["c"]
    # packaged official lists
    assert len(voc.read_list(tmp_path, "train_aug")) == 10582
    assert len(voc.read_list(tmp_path, "val")) == 1449
    assert len(voc.read_list(tmp_path, "test")) == 1456
    with pytest.raises(InputError, match="list not found"):
        voc.read_list(tmp_path, "nope")


def test_read_image_rgb_order(tmp_path):
    arr = np.zeros((8, 10, 3), np.uint8)
    arr[..., 0] = 200  # red in RGB
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, arr[:, :, ::-1])
    out = voc.read_image(path)
    assert out.shape == (8, 10, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, arr)
    assert voc.image_size(path) == (8, 10)


def test_read_image_grayscale_jpeg_is_replicated(tmp_path):
    gray = (np.arange(12 * 16).reshape(12, 16) % 256).astype(np.uint8)
    path = _jpeg(tmp_path / "g.jpg", gray, "L")
    out = voc.read_image(path)
    assert out.shape == (12, 16, 3)
    ref = np.asarray(Image.open(path).convert("L"))
    for c in range(3):
        assert np.abs(out[..., c].astype(int) - ref).max() <= 1


def test_read_image_cmyk_rejected(tmp_path):
    path = _jpeg(tmp_path / "c.jpg", np.full((8, 8, 4), 30, np.uint8), "CMYK")
    with pytest.raises(InputError, match="CMYK") as e:
        voc.read_image(path)
    assert e.value.path == path and "\n" not in str(e.value)


def test_read_image_truncated_and_garbage(tmp_path):
    rng = np.random.RandomState(0)
    path = _jpeg(tmp_path / "t.jpg", rng.randint(0, 255, (64, 64, 3)).astype(np.uint8))
    data = open(path, "rb").read()
    cut = str(tmp_path / "cut.jpg")
    open(cut, "wb").write(data[: len(data) * 2 // 3])
    assert voc.read_image(path).shape == (64, 64, 3)
    with pytest.raises(InputError, match="truncated") as e:
        voc.read_image(cut)
    assert e.value.path == cut
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="not a readable image"):
        voc.read_image(str(junk))
    with pytest.raises(InputError, match="file not found"):
        voc.read_image(str(tmp_path / "missing.jpg"))


def test_read_labels_difficult_rule(tmp_path):
    p = _xml(tmp_path / "a.xml", [("person", 0), ("dog", 1), ("cat", 0), ("person", 0)])
    assert voc.read_labels(p) == [7, 14]
    # only difficult objects: they are the labels
    p = _xml(tmp_path / "b.xml", [("dog", 1), ("bus", 1)])
    assert voc.read_labels(p) == [5, 11]
    # a missing difficult tag counts as 0
    (tmp_path / "c.xml").write_text("<annotation><object><name> tvmonitor </name></object></annotation>")
    assert voc.read_labels(str(tmp_path / "c.xml")) == [19]
    np.testing.assert_array_equal(voc.label_vector([0, 19]), np.eye(20, dtype=np.float32)[[0, 19]].sum(0))
    assert voc.label_vector([3]).dtype == np.float32


@pytest.mark.parametrize("objects,problem", [([("unicorn", 0)], "unknown class name 'unicorn'"),
                                             ([], "no object")])
def test_read_labels_bad(tmp_path, objects, problem):
    p = _xml(tmp_path / "bad.xml", objects)
    with pytest.raises(InputError, match=problem) as e:
        voc.read_labels(p)
    assert e.value.path == p


def test_read_labels_not_xml(tmp_path):
    (tmp_path / "x.xml").write_text("<annotation><object>")
    with pytest.raises(InputError, match="not valid XML"):
        voc.read_labels(str(tmp_path / "x.xml"))


def test_masks_palette_and_gray(tmp_path):
    mask = np.array([[0, 1, 2], [15, 20, 255]], np.uint8)
    voc.write_color_mask(str(tmp_path / "c.png"), mask)
    voc.write_mask(str(tmp_path / "g.png"), mask)
    with Image.open(str(tmp_path / "c.png")) as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im.getpalette()[:768], np.uint8).reshape(256, 3), voc.palette())
    with Image.open(str(tmp_path / "g.png")) as im:
        assert im.mode == "L"
    np.testing.assert_array_equal(voc.read_mask(str(tmp_path / "c.png")), mask)
    np.testing.assert_array_equal(voc.read_mask(str(tmp_path / "g.png")), mask)
    # cv2's gray read of a palette file gives luminance, not the indices (why PIL is used)
    assert not np.array_equal(cv2.imread(str(tmp_path / "c.png"), 0), mask)
    with pytest.raises(InputError, match="differs from the image"):
        voc.read_mask(str(tmp_path / "g.png"), shape=(3, 3))
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(InputError, match="mode RGB"):
        voc.read_mask(str(tmp_path / "rgb.png"))


def test_palette_reference():
    pal = voc.palette()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    known = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 15: (192, 128, 128),
             20: (0, 64, 128), 255: (224, 224, 192)}
    for k, rgb in known.items():
        assert tuple(pal[k]) == rgb


def test_read_saliency(tmp_path):
    sal = np.array([[0, 255], [51, 102]], np.uint8)
    cv2.imwrite(str(tmp_path / "s.png"), sal)
    out = voc.read_saliency(str(tmp_path / "s.png"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, sal / 255.0, atol=1e-7)
    with pytest.raises(InputError, match="differs"):
        voc.read_saliency(str(tmp_path / "s.png"), shape=(3, 2))
