"""Superpixel refinement and the sign flip against the numpy reference."""
from types import SimpleNamespace

import mxnet as mx
import numpy as np
from mxnet import autograd

import nn_reference as ref
from icd_mx.config import ModelConfig
from icd_mx.nn import ICDNet
from icd_mx.nn.refine import memberships, refine, sampling_step
from icd_mx.nn.signflip import OP_TYPE, sign_from_state, signflip_stats, signflip_update

rng = np.random.RandomState(1)


def test_memberships_are_bilinear_align_corners_and_sum_to_one():
    sp = rng.randint(0, 6, (2, 17, 19))
    m = memberships(mx.nd, mx.nd.array(sp), mx.nd.zeros((2, 20, 5, 6)), 8).asnumpy()
    onehot = np.stack([(sp == j) for j in range(8)], axis=1).astype(np.float64)
    np.testing.assert_allclose(m, ref.bilinear_align_corners(onehot, 5, 6), atol=1e-6)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-5)


def test_memberships_equal_one_hot_transpose_resize_bit_for_bit():
    """The channel-first comparison gives the exact floats of one_hot + transpose + resize
    (the earlier formulation), ids >= K included, at the training and inference sizes,
    imperative and hybridized."""
    for (hh, ww), (h, w) in (((161, 161), (21, 21)), ((45, 61), (6, 8)), ((50, 37), (50, 37))):
        sp = mx.nd.array(rng.randint(0, 12, (2, hh, ww)))
        like = mx.nd.zeros((2, 20, h, w))
        onehot = mx.nd.transpose(mx.nd.one_hot(sp, depth=10), axes=(0, 3, 1, 2))
        want = mx.nd.contrib.BilinearResize2D(onehot, like=like, mode="like", align_corners=True).asnumpy()
        assert np.array_equal(memberships(mx.nd, sp, like, 10).asnumpy(), want)
        sym = memberships(mx.sym, mx.sym.var("sp"), mx.sym.var("like"), 10)
        got = sym.bind(mx.cpu(), {"sp": sp, "like": like}).forward()[0].asnumpy()
        assert np.array_equal(got, want)


def test_sampled_memberships_equal_the_resize_bit_for_bit():
    """Where the align-corners resize samples whole pixels (sampling_step), sampling the
    ids gives the resize's exact floats: training crops 321 and 161 at stride 8, other
    integer steps, non-square maps, the same size, ids >= K; refine equal too."""
    for (hh, ww), (h, w) in (((321, 321), (41, 41)), ((161, 161), (21, 21)), ((45, 33), (12, 5)),
                             ((33, 33), (5, 5)), ((20, 17), (20, 17))):
        step = sampling_step((hh, ww), (h, w))
        assert step == ((hh - 1) // (h - 1), (ww - 1) // (w - 1))
        sp = mx.nd.array(rng.randint(0, 12, (2, hh, ww)))
        like = mx.nd.array(rng.randn(2, 20, h, w))
        want = memberships(mx.nd, sp, like, 10).asnumpy()
        assert np.array_equal(memberships(mx.nd, sp, like, 10, step).asnumpy(), want)
        sym = memberships(mx.sym, mx.sym.var("sp"), mx.sym.var("like"), 10, step)
        assert np.array_equal(sym.bind(mx.cpu(), {"sp": sp, "like": like}).forward()[0].asnumpy(), want)
        label = mx.nd.array(rng.randint(0, 2, (2, 20)))
        assert np.array_equal(refine(mx.nd, like, label, sp, 10, sp_step=step).asnumpy(),
                              refine(mx.nd, like, label, sp, 10).asnumpy())
    for full, low in (((50, 50), (7, 7)), ((33, 34), (5, 5)), ((9, 9), (1, 1)), ((500, 375), (63, 47))):
        assert sampling_step(full, low) is None


def test_refine_matches_reference():
    s = rng.randn(2, 20, 6, 7).astype(np.float32)
    s[0, 4] = np.abs(s[0, 4])  # a class with only positive scores
    y = np.zeros((2, 20), np.float32)
    y[0, [4, 9]] = 1
    y[1, 2] = 1
    sp = rng.randint(0, 9, (2, 23, 27))
    sp[1, :, :] = np.minimum(sp[1], 5)  # unused ids 6..9: empty memberships
    out = refine(mx.nd, mx.nd.array(s), mx.nd.array(y), mx.nd.array(sp), 10).asnumpy()
    expected = ref.refine(s, y, sp, 10)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert np.abs(out[:, [0, 1, 3]]).max() == 0  # absent classes are zero


def test_signflip_stats_and_update_match_reference():
    cam = rng.randn(4, 20, 5, 5).astype(np.float32)
    s_hat = rng.randn(4, 20, 5, 5).astype(np.float32)
    s_hat[0, 3] = 0  # no positive or negative pixel: clamped denominators
    y = (rng.rand(4, 20) < 0.3).astype(np.float32)
    y[:, 19] = 0  # an absent class keeps its state
    y[0, 3] = 1
    state0 = rng.rand(20, 2).astype(np.float32)
    state0[5] = [0.3, 0.3]  # tie -> +1 when absent
    y[:, 5] = 0
    stats = signflip_stats(mx.nd, mx.nd.array(cam), mx.nd.array(s_hat), mx.nd.array(y))
    batch, present = ref.signflip_batch(cam, s_hat, y)
    param = mx.gluon.Parameter("state", shape=(20, 2), grad_req="null")
    param.initialize(init=mx.init.Constant(0))
    param.set_data(mx.nd.array(state0))
    sign = signflip_update(stats, param, 0.9, is_train=True).asnumpy()
    new, sign_ref = ref.signflip_update(state0.astype(np.float64), batch, present)
    np.testing.assert_allclose(param.data().asnumpy(), new, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(sign, sign_ref)
    assert sign[5] == 1 and param.data().asnumpy()[19].tolist() == state0[19].tolist()


def test_signflip_inference_does_not_update_and_has_no_gradient():
    state = mx.nd.array([[0.2, 0.1], [0.1, 0.2], [0.3, 0.3]])
    stats = mx.nd.array([[5.0, 0.0, 1.0], [0.0, 5.0, 1.0], [0.0, 9.0, 1.0]])
    stats.attach_grad()
    with autograd.record(train_mode=False):
        sign = mx.nd.Custom(stats, state, op_type=OP_TYPE)
        loss = (sign * 3).sum()
    loss.backward()
    assert sign.asnumpy().tolist() == [1, -1, 1]
    np.testing.assert_array_equal(state.asnumpy(), np.float32([[0.2, 0.1], [0.1, 0.2], [0.3, 0.3]]))
    assert np.abs(stats.grad.asnumpy()).max() == 0
    np.testing.assert_array_equal(sign_from_state(mx.nd, state).asnumpy(), [1, -1, 1])


def test_signflip_state_same_on_one_and_two_contexts():
    """Batch 8 on one context == 4 + 4 on two CPU contexts (combined statistics)."""
    cfg = ModelConfig(width=1 / 16, dropout=0.0, max_superpixels=8)
    ctxs = [mx.cpu(0), mx.cpu(1)]
    half = rng.uniform(0, 255, (4, 3, 33, 33))
    img = np.concatenate([half, half])  # equal halves: equal per-device BN statistics
    sp = rng.randint(0, 8, (8, 33, 33))
    y = np.zeros((8, 20), np.float32)
    y[np.arange(8), [0, 1, 2, 0, 3, 3, 4, 1]] = 1  # different labels per half: a per-device update would differ
    y[2, 5] = 1
    mx.random.seed(3)
    one = ICDNet(cfg)
    one.initialize(ctx=ctxs[0])
    two = ICDNet(cfg)
    two.initialize(ctx=ctxs)
    for p1, p2 in zip(one.collect_params().values(), two.collect_params().values()):
        p2.set_data(p1.data())
    step = SimpleNamespace(epoch=0, iteration=0, iters_per_epoch=4, reduce=None)
    for _ in range(2):
        with autograd.record():
            one.forward_train([tuple(mx.nd.array(a) for a in (img, sp, y))], step)
            two.forward_train([tuple(mx.nd.array(a[i * 4:i * 4 + 4], ctx=c) for a in (img, sp, y))
                               for i, c in enumerate(ctxs)], step)
    s1 = one.signflip_state.data().asnumpy()
    s2 = [d.asnumpy() for d in two.signflip_state.list_data()]
    assert np.abs(s1).max() > 0
    np.testing.assert_array_equal(s2[0], s2[1])
    np.testing.assert_allclose(s1, s2[0], rtol=1e-5, atol=1e-9)


def release_per_device(kv, states, stats_list, momentum=0.9):
    """The release's AccumResign on N devices, plainly: one shared average (zero when training
    starts), pushed once per device in order; an absent class pushes that device's current row."""
    states = [s.astype(np.float64).copy() for s in states]
    signs = []
    for d, stats in enumerate(stats_list):
        value = states[d].copy()
        for c in range(20):
            if stats[c, 2] > 0:
                value[c] = stats[c, :2] / stats[c, 2]
        kv = momentum * kv + (1 - momentum) * value
        states[d] = kv.copy()
        signs.append(np.where(kv[:, 0] >= kv[:, 1], 1.0, -1.0))
    return kv, states, signs


def test_per_device_signflip_is_the_releases_on_two_contexts():
    from icd_mx.nn.signflip import signflip_update_per_device

    ctxs = [mx.cpu(0), mx.cpu(1)]
    state0 = rng.rand(20, 2).astype(np.float32)
    stats = []
    for d in range(2):
        s = np.zeros((20, 3), np.float32)
        present = rng.rand(20) < 0.4
        s[present, 2] = rng.randint(1, 4, present.sum())
        s[present, :2] = rng.rand(present.sum(), 2) * s[present, 2:3]
        stats.append(s)
    param = mx.gluon.Parameter("state", shape=(20, 2), grad_req="null")
    param.initialize(init=mx.init.Constant(0), ctx=ctxs)
    param.set_data(mx.nd.array(state0))
    kv = mx.nd.zeros((20, 2), ctx=ctxs[0])
    expected_kv, expected_states = np.zeros((20, 2)), [state0, state0]
    for _ in range(2):  # two iterations: the second starts from the first's per-device rows
        signs = signflip_update_per_device([mx.nd.array(s, ctx=c) for s, c in zip(stats, ctxs)], param, kv)
        expected_kv, expected_states, expected_signs = release_per_device(expected_kv, expected_states, stats)
        for d in range(2):
            np.testing.assert_allclose(param.list_data()[d].asnumpy(), expected_states[d], rtol=1e-6, atol=1e-7)
            np.testing.assert_array_equal(signs[d].asnumpy(), expected_signs[d])
    np.testing.assert_allclose(kv.asnumpy(), expected_states[1], rtol=1e-6, atol=1e-7)
    assert not np.allclose(param.list_data()[0].asnumpy(), param.list_data()[1].asnumpy())


def test_per_device_net_depends_on_the_device_count_and_global_does_not():
    """The same batch of 8 on one and on two CPU contexts: the release's per-device sign flip
    ends in different states, the default global update in the same one."""
    ctxs = [mx.cpu(0), mx.cpu(1)]
    half = rng.uniform(0, 255, (4, 3, 33, 33))
    arrays = (np.concatenate([half, half]), rng.randint(0, 8, (8, 33, 33)), np.zeros((8, 20), np.float32))
    arrays[2][np.arange(8), [0, 1, 2, 0, 3, 3, 4, 1]] = 1
    step = SimpleNamespace(epoch=0, iteration=0, iters_per_epoch=4, reduce=None)
    final = {}
    for sync in ("global", "per_device"):
        cfg = ModelConfig(width=1 / 16, dropout=0.0, max_superpixels=8, signflip_sync=sync)
        for n in (1, 2):
            mx.random.seed(3)
            net = ICDNet(cfg)
            net.initialize(ctx=ctxs[:n])
            k = 8 // n
            with autograd.record():
                net.forward_train([tuple(mx.nd.array(a[i * k:(i + 1) * k], ctx=c) for a in arrays)
                                   for i, c in enumerate(ctxs[:n])], step)
            final[sync, n] = net.signflip_state.list_data()[-1].asnumpy()
    np.testing.assert_allclose(final["global", 1], final["global", 2], rtol=1e-5, atol=1e-9)
    assert np.abs(final["per_device", 1] - final["per_device", 2]).max() > 1e-4
    # one device, zero start: the release's update is the global one for the present classes
    np.testing.assert_allclose(final["per_device", 1][:5], final["global", 1][:5], rtol=1e-5, atol=1e-9)
