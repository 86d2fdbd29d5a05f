"""Seg loss vs NumPy, multi-scale/flip merging vs an obvious reference, CRF call, submission writer."""
import os

import numpy as np
import pytest
from PIL import Image

mx = pytest.importorskip("mxnet")

from icd_mx.data import voc  # noqa: E402
from icd_mx.data import submission  # noqa: E402
from icd_mx.data.transforms import seg_transform  # noqa: E402
from icd_mx.nn.losses import label_at_output, seg_loss  # noqa: E402
from icd_mx.stages import test_seg as predict  # noqa: E402


def test_seg_loss_matches_numpy_with_ignore():
    rng = np.random.RandomState(0)
    logits = rng.randn(3, 21, 5, 6).astype(np.float32) * 3
    label = rng.randint(0, 21, (3, 5, 6)).astype(np.float32)
    label[rng.rand(3, 5, 6) < 0.3] = 255
    label[2] = 255  # an image with no labelled pixel contributes 0
    got = seg_loss(mx.nd, mx.nd.array(logits), mx.nd.array(label)).asnumpy()
    for n in range(3):
        terms = []
        for i in range(5):
            for j in range(6):
                if label[n, i, j] != 255:
                    z = logits[n, :, i, j].astype(np.float64)
                    terms.append(np.log(np.exp(z - z.max()).sum()) + z.max() - z[int(label[n, i, j])])
        np.testing.assert_allclose(got[n], np.mean(terms) if terms else 0.0, rtol=1e-5)


def test_seg_loss_gradient_ignores_255():
    logits = mx.nd.random.normal(shape=(1, 21, 2, 2))
    logits.attach_grad()
    label = mx.nd.array([[[3, 255], [255, 255]]])
    with mx.autograd.record():
        loss = seg_loss(mx.nd, logits, label).sum()
    loss.backward()
    g = logits.grad.asnumpy()
    assert np.abs(g[0, :, 0, 0]).sum() > 0 and np.all(g[0, :, 0, 1] == 0) and np.all(g[0, :, 1, :] == 0)


def test_label_at_output_grid():
    lab = mx.nd.array(np.arange(41 * 41).reshape(1, 41, 41))
    sub = label_at_output(lab, (6, 6)).asnumpy()
    np.testing.assert_array_equal(sub[0], np.arange(41 * 41).reshape(41, 41)[::8, ::8])


def test_seg_transform_pads_255_and_127():
    rng = np.random.RandomState(1)
    img, lab = np.full((10, 12, 3), 200, np.uint8), np.ones((10, 12), np.uint8)
    x, y = seg_transform(img, lab, rng, crop_size=17, scales=[1.0])
    assert x.shape == (3, 17, 17) and y.shape == (17, 17)
    assert set(np.unique(y)) == {1.0, 255.0} and set(np.unique(x)) == {127.0, 200.0}
    assert np.all((y == 255) == (x[0] == 127))


class Sampler(mx.gluon.HybridBlock):
    """Logits = a fixed 1x1 map of the input sampled at stride 8 (output i on input pixel 8 i)."""

    def __init__(self, w):
        super().__init__()
        self.w = w

    def hybrid_forward(self, F, x):
        return F.Convolution(x, self.w, kernel=(1, 1), stride=(8, 8), num_filter=self.w.shape[0], no_bias=True)


def _reference(w, img, scales, flip):
    """Obvious reference: loop over scales and mirrors, pixel-by-pixel bilinear interpolation."""
    import cv2

    h, w_ = img.shape[:2]
    out = []
    for s in scales:
        hs, ws = int(round(h * s)), int(round(w_ * s))
        x = img.astype(np.float32) if (hs, ws) == (h, w_) else cv2.resize(img.astype(np.float32), (ws, hs))
        for mirror in ([False, True] if flip else [False]):
            v = x[:, ::-1] if mirror else x
            gy, gx = np.arange(0, hs, 8), np.arange(0, ws, 8)
            logits = np.einsum("kc,yxc->kyx", w, v[gy][:, gx])
            e = np.exp(logits - logits.max(0))
            p = e / e.sum(0)
            # bilinear between grid nodes at 8 i; beyond the last node the 127-padding's logits
            pad = np.exp(w @ np.full(3, 127.0) - (w @ np.full(3, 127.0)).max())
            pad = pad / pad.sum()
            full = np.empty((p.shape[0], hs, ws))
            for i in range(hs):
                for j in range(ws):
                    def node(a, b):
                        return _edge(p, pad, a, b)
                    fy, fx = i / 8.0, j / 8.0
                    y0, x0 = int(fy), int(fx)
                    dy, dx = fy - y0, fx - x0
                    full[:, i, j] = ((1 - dy) * (1 - dx) * node(y0, x0) + (1 - dy) * dx * node(y0, x0 + 1)
                                     + dy * (1 - dx) * node(y0 + 1, x0) + dy * dx * node(y0 + 1, x0 + 1))
            if mirror:
                full = full[:, :, ::-1]
            if (hs, ws) != (h, w_):
                full = np.stack([cv2.resize(c.astype(np.float32), (w_, h)) for c in full])
            out.append(full)
    return np.mean(out, axis=0)


def _edge(p, pad, a, b):
    """Grid node (a, b): the output there, or beyond the last node the padding's probabilities."""
    return p[:, a, b] if a < p.shape[1] and b < p.shape[2] else pad


@pytest.mark.parametrize("scales,flip", [([1.0], False), ([1.0], True), ([0.75, 1.0, 1.25], True)])
def test_multiscale_flip_matches_reference(scales, flip):
    rng = np.random.RandomState(0)
    w = rng.randn(4, 3).astype(np.float32) * 0.02
    img = rng.randint(0, 256, (13, 19, 3)).astype(np.uint8)
    net = Sampler(mx.nd.array(w.reshape(4, 3, 1, 1)))
    got = predict.predict_probs(net, img, scales, flip)
    want = _reference(w, img, scales, flip)
    assert got.shape == (4, 13, 19)
    np.testing.assert_allclose(got.sum(0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_flip_averaging_is_mirror_symmetric():
    rng = np.random.RandomState(2)
    net = Sampler(mx.nd.array(rng.randn(5, 3, 1, 1) * 0.05))
    img = rng.randint(0, 256, (22, 27, 3)).astype(np.uint8)
    a = predict.predict_probs(net, img, [1.0, 0.5], True)
    b = predict.predict_probs(net, img[:, ::-1], [1.0, 0.5], True)
    np.testing.assert_allclose(a, b[:, :, ::-1], atol=1e-6)


def test_label_map_with_crf_calls_dense_crf():
    pytest.importorskip("pydensecrf")
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 15:] = 255
    probs = np.full((21, 20, 30), 0.01, np.float32)
    probs[0, :, :15], probs[7, :, 15:] = 0.8, 0.8
    probs[7, 5, 5] = 0.9  # an isolated disagreement the CRF smooths away
    probs /= probs.sum(0, keepdims=True)
    assert predict.label_map(probs)[5, 5] == 7
    out = predict.label_map(probs, rgb, crf=True)
    assert out.shape == (20, 30) and out.dtype == np.uint8
    assert out[5, 5] == 0 and np.all(out[:, 20:] == 7)


def test_grid_size():
    assert [predict.grid_size(n) for n in (1, 8, 9, 10, 321, 500)] == [1, 9, 9, 17, 321, 505]


def test_submission_writer(tmp_path):
    mask = (np.arange(37 * 53) % 21).reshape(37, 53).astype(np.uint8)
    path = submission.write_submission(str(tmp_path), "2008_000001", mask)
    assert path == os.path.join(str(tmp_path), "results", "VOC2012", "Segmentation", "comp6_test_cls",
                                "2008_000001.png")
    with Image.open(path) as im:
        assert im.mode == "P" and im.size == (53, 37)
        pal = np.array(im.getpalette()[:21 * 3], np.uint8).reshape(21, 3)
        np.testing.assert_array_equal(np.array(im), mask)
    np.testing.assert_array_equal(pal, voc.palette()[:21])
    assert tuple(pal[15]) == (192, 128, 128)  # person
    with pytest.raises(ValueError):
        submission.write_submission(str(tmp_path), "bad", np.full((3, 3), 255, np.uint8))
    tar = submission.archive_submission(str(tmp_path))
    import tarfile

    with tarfile.open(tar) as t:
        assert "results/VOC2012/Segmentation/comp6_test_cls/2008_000001.png" in t.getnames()
