"""Losses against the numpy reference (docs/method.md "Network") and finite differences."""
import math

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

import nn_reference as ref
from icd_mx.nn import losses
from icd_mx.nn.icd import BottomUp

rng = np.random.RandomState(0)


def labels():
    y = np.zeros((4, 20), np.float32)
    y[0, 3] = 1            # single class
    y[1, [2, 5]] = 1       # two classes: masked out of L_bu
    y[2, 7] = 1
    y[3, 0] = 1
    return y


def test_cam_loss_matches_reference():
    cam = rng.randn(4, 20, 5, 6).astype(np.float32) * 3
    y = labels()
    per_image = losses.cam_loss(mx.nd, mx.nd.array(cam).mean(axis=(2, 3)), mx.nd.array(y)).asnumpy()
    assert per_image.shape == (4,)
    np.testing.assert_allclose(per_image.mean(), ref.cam_loss_mean(cam, y), rtol=1e-5)


def test_sigmoid_ce_stable_for_large_inputs():
    x = mx.nd.array([-100.0, -1.0, 0.0, 2.0, 100.0])
    t = mx.nd.array([1.0, 0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(losses.sigmoid_ce(mx.nd, x, t).asnumpy(), [100, 0.3132617, 0.6931472, 0.126928, 100],
                               rtol=1e-5)


@pytest.mark.parametrize("kind", ["bu", "abs", "sig"])
def test_bu_loss_matches_reference(kind):
    s = rng.randn(4, 20, 3, 4).astype(np.float32)
    y = labels()
    sign = np.where(rng.rand(20) > 0.5, 1.0, -1.0).astype(np.float32)
    per_image = losses.bu_loss(mx.nd, mx.nd.array(s), mx.nd.array(y), 10.0, kind, mx.nd.array(sign)).asnumpy()
    assert per_image[1] == 0  # two-class image does not count
    # per-image sum / N (the trainer's division by the global batch) = the reference's 1/(N*H*W) form
    np.testing.assert_allclose(per_image.sum() / 4, ref.bu_loss(s, y, 10.0, kind, sign), rtol=1e-5)


@pytest.mark.parametrize("kind", ["bu", "abs"])
def test_bu_loss_gradient_wrt_w_finite_difference(kind):
    feat = rng.randn(4, 6, 3, 3)
    w0 = rng.randn(20, 6)
    y = labels()
    block = BottomUp(6)
    block.initialize()
    block.weight.set_data(mx.nd.array(w0))
    x = mx.nd.array(feat)
    x.attach_grad()
    with autograd.record():
        loss = losses.bu_loss(mx.nd, block(mx.nd.stop_gradient(x)), mx.nd.array(y), 10.0, kind).sum() / 4
    loss.backward()
    grad = block.weight.grad().asnumpy()
    assert np.abs(x.grad.asnumpy()).max() == 0  # L_bu sends no gradient into the features
    eps = 1e-6
    for c, f in [(3, 0), (3, 4), (7, 2), (0, 5), (2, 1)]:
        wp, wm = w0.copy(), w0.copy()
        wp[c, f] += eps
        wm[c, f] -= eps
        fd = (ref.bu_loss(ref.bu_score(feat, wp), y, 10.0, kind) - ref.bu_loss(ref.bu_score(feat, wm), y, 10.0, kind))
        np.testing.assert_allclose(grad[c, f], fd / (2 * eps), rtol=2e-3, atol=1e-5)


def test_bu_score_normalises_rows():
    feat = rng.randn(2, 6, 3, 3).astype(np.float32)
    w = rng.randn(20, 6).astype(np.float32) * 7
    block = BottomUp(6)
    block.initialize()
    block.weight.set_data(mx.nd.array(w))
    np.testing.assert_allclose(block(mx.nd.array(feat)).asnumpy(), ref.bu_score(feat, w), rtol=1e-4, atol=1e-5)


def test_td_loss_matches_reference_and_mask():
    s_td = rng.randn(4, 20, 5, 5).astype(np.float32) * 2
    s_ref = rng.randn(4, 20, 5, 5).astype(np.float32)
    s_ref[0, 3] = 0.0  # all-zero map: clamps, no pixel passes the mask
    y = labels()
    per_image = losses.td_loss(mx.nd, mx.nd.array(s_td), mx.nd.array(s_ref), mx.nd.array(y), 0.2).asnumpy()
    np.testing.assert_allclose(per_image.mean(), ref.td_loss_mean(s_td, s_ref, y), rtol=1e-5)
    assert per_image[0] == 0
    v = losses.normalise_signed(mx.nd, mx.nd.array(s_ref)).asnumpy()
    assert v.max() <= 1 and v.min() >= -1
    mask, target = ref.td_target(s_ref)
    np.testing.assert_array_equal(np.abs(v) > 0.2, mask)


def test_td_loss_gradient_finite_difference():
    s_td = rng.randn(2, 20, 3, 3)
    s_ref = rng.randn(2, 20, 3, 3)
    y = labels()[:2]
    x = mx.nd.array(s_td, dtype="float64")
    x.attach_grad()
    with autograd.record():
        loss = losses.td_loss(mx.nd, x, mx.nd.array(s_ref, dtype="float64"), mx.nd.array(y, dtype="float64")).sum() / 2
    loss.backward()
    eps = 1e-6
    for idx in [(0, 3, 1, 1), (1, 2, 0, 2), (1, 5, 2, 2), (0, 0, 0, 0)]:
        p, m = s_td.copy(), s_td.copy()
        p[idx] += eps
        m[idx] -= eps
        fd = (ref.td_loss_mean(p, s_ref, y) - ref.td_loss_mean(m, s_ref, y)) / (2 * eps)
        np.testing.assert_allclose(x.grad.asnumpy()[idx], fd, rtol=1e-5, atol=1e-9)


def test_cam_loss_gradient_finite_difference():
    logits = rng.randn(4, 20)
    y = labels()
    x = mx.nd.array(logits, dtype="float64")
    x.attach_grad()
    with autograd.record():
        loss = losses.cam_loss(mx.nd, x, mx.nd.array(y, dtype="float64")).sum() / 4
    loss.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), (ref.sigmoid(logits) - y) / 4, rtol=1e-6)


def test_td_warmup_weight():
    assert losses.td_warmup_weight(0, 200) == pytest.approx(math.exp(-10))
    assert losses.td_warmup_weight(100, 200) == pytest.approx(math.exp(-5))
    assert losses.td_warmup_weight(200, 200) == 1.0
    assert losses.td_warmup_weight(5000, 200) == 1.0
    assert losses.td_warmup_weight(3, 0) == 1.0


def test_td_warmup_iters_is_the_releases_rounding():
    # 2 * num_sample // batch, not 2 * (num_sample // batch)
    assert losses.td_warmup_iters(2.0, 10582, 32) == 661
    assert losses.td_warmup_iters(2.0, 100, 32) == 6
    assert losses.td_warmup_iters(0.5, 100, 8) == 6
