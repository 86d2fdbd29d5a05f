"""ICDNet structure, BN, parameter attributes, variants and the training step."""
from types import SimpleNamespace

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

import nn_reference as ref
from icd_mx.config import ModelConfig
from icd_mx.nn import DilatedVGG16, ICDNet

W = 1 / 16
rng = np.random.RandomState(2)


def batch(n=4, size=33, k=8):
    img = mx.nd.array(rng.uniform(0, 255, (n, 3, size, size)))
    sp = mx.nd.array(rng.randint(0, k, (n, size, size)))
    y = np.zeros((n, 20), np.float32)
    y[np.arange(n), rng.randint(0, 20, n)] = 1
    y[0, 11] = 1
    return img, sp, mx.nd.array(y)


def step(iteration=0):
    return SimpleNamespace(epoch=0, iteration=iteration, iters_per_epoch=2, reduce=None)


def make(**kw):
    kw.setdefault("width", W)
    kw.setdefault("max_superpixels", 8)
    net = ICDNet(ModelConfig(**kw))
    net.initialize()
    return net


def test_backbone_geometry_stride_8():
    net = DilatedVGG16(width=W)
    net.initialize()
    for size, out in ((321, 41), (65, 9), (33, 5)):
        shapes = [o.shape for o in net(mx.nd.zeros((1, 3, size, size)))]
        assert shapes == [(1, 32, out, out)] * 3


def test_parameter_names_lr_wd_and_init():
    net = make()
    params = {k[len(net.prefix):]: p for k, p in net.collect_params().items()}
    assert params["icd_bu_weight"].shape == (20, 32)
    assert params["icd_accum_resign_moving_mean"].shape == (20, 2)
    assert params["icd_accum_resign_moving_mean"].grad_req == "null"
    assert params["conv_ft_weight"].shape == (20, 32 + 64 + 64, 1, 1) and "conv_ft_bias" not in params
    assert params["feat_bn_gamma"].grad_req == "null" and params["feat_bn_beta"].grad_req == "write"
    for name, p in params.items():
        assert p.lr_mult == (10.0 if name.startswith(("fc8_", "conv_ft_")) else 1.0), name
        assert p.wd_mult == (0.0 if name.endswith(("_bias", "_beta")) else 1.0), name
    np.testing.assert_array_equal(params["fc6_ft_weight"].data().asnumpy(), params["fc6_weight"].data().asnumpy())
    np.testing.assert_array_equal(params["fc7_ft_bias"].data().asnumpy(), params["fc7_bias"].data().asnumpy())
    assert abs(params["fc8_weight"].data().asnumpy().std() - 0.01) < 0.003
    assert np.abs(params["icd_accum_resign_moving_mean"].data().asnumpy()).max() == 0
    beta0 = make(bn_beta="zero")
    assert beta0.feat_bn.beta.grad_req == "null"


def test_batchnorm_gamma_fixed_batch_stats_and_momentum():
    net = make()
    net.feat_bn.gamma.set_data(mx.nd.ones((32,)) * 5)  # ignored: gamma fixed at 1
    beta = rng.randn(32).astype(np.float32)
    net.feat_bn.beta.set_data(mx.nd.array(beta))
    x = rng.randn(3, 32, 4, 4).astype(np.float32) * 2 + 1
    with autograd.record():
        out = net.feat_bn(mx.nd.array(x))
    expected, mean, var = ref.batchnorm_train(x.astype(np.float64), beta)
    out.backward()  # (MXNet with MKLDNN writes the moving statistics in the backward pass)
    np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net.feat_bn.running_mean.data().asnumpy(), 0.1 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(net.feat_bn.running_var.data().asnumpy(), 0.9 + 0.1 * var, rtol=1e-4)
    out = net.feat_bn(mx.nd.array(x)).asnumpy()  # inference: moving statistics
    rm, rv = net.feat_bn.running_mean.data().asnumpy(), net.feat_bn.running_var.data().asnumpy()
    np.testing.assert_allclose(out, (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5) + beta[:, None, None],
                               rtol=1e-4, atol=1e-4)


def test_forward_train_loss_is_sum_of_parts_and_infer_matches_hybridized():
    net = make(dropout=0.0)
    img, sp, y = batch()
    with autograd.record():
        losses, m = net.forward_train([(img, sp, y)], step(1))
    autograd.backward(losses)
    w = m["td_weight"].asscalar()
    assert w == pytest.approx(np.exp(-10 * 3 / 4))
    total = m["loss_cam"] + m["loss_bu"] + w * m["loss_td"]
    np.testing.assert_allclose(losses[0].asnumpy() / 4, total.asnumpy(), rtol=1e-5)
    np.testing.assert_allclose(m["loss"].asnumpy(), total.asnumpy(), rtol=1e-5)
    out = net.infer(img, sp, y)
    assert set(out) == {"cam", "icd_bu", "icd_bu_sp", "icd_td"} and out["icd_td"].shape == (4, 20, 5, 5)
    net.hybridize()
    out2 = net.infer(img, sp, y)
    for k in out:
        np.testing.assert_allclose(out[k].asnumpy(), out2[k].asnumpy(), rtol=1e-5, atol=1e-6)


def test_bu_loss_sends_no_gradient_into_backbone():
    img, sp, y = batch()
    grads = []
    for gs in (0.0, 10.0):
        mx.random.seed(5)
        net = make(dropout=0.0, grad_scale=gs)
        with autograd.record():
            losses, _ = net.forward_train([(img, sp, y)], step(100))
        autograd.backward(losses)
        grads.append({k[len(net.prefix):]: p.grad().asnumpy().copy() for k, p in net.collect_params().items()
                      if p.grad_req != "null"})
    for name in grads[0]:
        if name == "icd_bu_weight":
            assert np.abs(grads[0][name] - grads[1][name]).max() > 0
        else:
            np.testing.assert_allclose(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("bu_feature,td_structure,bu_loss", [
    ("conv4", "a", "abs"), ("fc6", "b", "sig"), ("concat", "d", "bu"), ("conv5", "c", "bu")])
def test_variants_train_and_infer(bu_feature, td_structure, bu_loss):
    net = make(bu_feature=bu_feature, td_structure=td_structure, bu_loss=bu_loss)
    img, sp, y = batch(2)
    with autograd.record():
        losses, m = net.forward_train([(img, sp, y)], step(3))
    autograd.backward(losses)
    assert np.isfinite(losses[0].asscalar())
    assert net.infer(img, sp, y)["icd_td"].shape == (2, 20, 5, 5)
    assert (td_structure in ("b", "c")) == hasattr(net, "fc6_ft")


def test_cam_mode_is_backbone_and_cam_only():
    net = make(mode="cam")
    names = [k[len(net.prefix):] for k in net.collect_params()]
    assert names[-2:] == ["fc8_weight", "fc8_bias"] and len(names) == 32
    img, sp, y = batch(2)
    with autograd.record():
        losses, m = net.forward_train([(img, sp, y)], step())
    autograd.backward(losses)
    assert set(net.infer(img, sp)) == {"cam"}
    np.testing.assert_allclose(m["loss_cam"].asscalar(), losses[0].asscalar() / 2, rtol=1e-6)


def test_training_step_gradient_matches_finite_differences(monkeypatch):
    """The whole step's gradient (CAM + warm TD, L_bu off) against central differences in float64,
    for parameters from conv1_1 to conv_ft: the TD loss reaches the backbone through BN
    (batch statistics) and the 2560-channel concat, with its target and the sign held fixed
    (they carry no gradient, docs/method.md "Network")."""
    import icd_mx.nn.icd as icd_module

    mx.random.seed(3)
    net = make(dropout=0.0, grad_scale=0.0)
    net.cast("float64")
    img, sp, y = batch(2)
    img, sp, y = (x.astype("float64") for x in (img, sp, y))
    target = {}
    real_refine = icd_module.refine

    def frozen_refine(F, score, label, *rest):  # the membership maps are float32 in any case
        if "s" not in target:
            target["s"] = real_refine(F, score.astype("float32"), label.astype("float32"), *rest).astype("float64")
        return target["s"]

    monkeypatch.setattr(icd_module, "refine", frozen_refine)
    state = net.signflip_state.data().copy()
    params = {k[len(net.prefix):]: p for k, p in net.collect_params().items()}

    def loss(record=False):
        net.signflip_state.set_data(state)
        if not record:
            with autograd.train_mode():
                return net.forward_train([(img, sp, y)], step(100))[0][0].asscalar()
        with autograd.record():
            losses, _ = net.forward_train([(img, sp, y)], step(100))
        autograd.backward(losses)

    loss(record=True)
    checked = 0
    for name, index in [("conv1_1_weight", (0, 0, 1, 1)), ("conv3_2_bias", (1,)), ("conv5_3_weight", (2, 1, 0, 1)),
                        ("feat_bn_beta", (0,)), ("fc6_ft_weight", (1, 0, 1, 1)), ("fc7_ft_bias", (3,)),
                        ("conv_ft_weight", (11, 5, 0, 0)), ("fc8_weight", (11, 0, 0, 0))]:
        p = params[name]
        analytic = p.grad().asnumpy()[index]
        value = p.data().asnumpy()
        eps = 1e-6  # float64: small enough to cross no ReLU or max-pool switch
        plus, minus = value.copy(), value.copy()
        plus[index] += eps
        minus[index] -= eps
        p.set_data(mx.nd.array(plus, dtype="float64"))
        lp = loss()
        p.set_data(mx.nd.array(minus, dtype="float64"))
        lm = loss()
        p.set_data(mx.nd.array(value, dtype="float64"))
        numeric = (lp - lm) / (2 * eps)
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-8), name
        checked += abs(analytic) > 1e-9
    assert checked >= 6  # the gradients are not trivially zero


@pytest.mark.parametrize("sync,contexts", [("global", 1), ("per_device", 2)])
def test_hybridized_training_graphs_equal_the_imperative_step(sync, contexts):
    """The three training graphs (TrainStage, static_alloc/static_shape) give the imperative
    step's losses, outputs, gradients, sign-flip state and BN statistics, step after step,
    also when a batch has another size (an epoch's last: the graphs are re-planned);
    metrics only when ``step.log``."""
    ctxs = [mx.cpu(i) for i in range(contexts)]
    img, sp, y = batch(4)
    k = 4 // contexts
    split = [tuple(a[i * k:(i + 1) * k].as_in_context(c) for a in (img, sp, y)) for i, c in enumerate(ctxs)]
    smaller = [tuple(a[:k // 2] for a in part) for part in split]
    runs = []
    for hybrid in (False, True):
        mx.random.seed(7)
        net = ICDNet(ModelConfig(width=W, max_superpixels=8, dropout=0.0, signflip_sync=sync))
        net.initialize(ctx=ctxs)
        if hybrid:
            net.hybridize(static_alloc=True, static_shape=True)
        got = []
        for it in range(3):
            outputs = []
            s = SimpleNamespace(epoch=0, iteration=it, iters_per_epoch=2, reduce=None, log=it == 2)
            with autograd.record():
                losses, m = net.forward_train(smaller if it == 1 else split, s, outputs)
            autograd.backward(losses)
            assert bool(m) == (it == 2)
            params = {k[len(net.prefix):]: p for k, p in net.collect_params().items()}
            got.append({"loss": [x.asnumpy() for x in losses],
                        "out": [{k: v.asnumpy() for k, v in o.items()} for o in outputs],
                        "grad": {k: p.grad(ctxs[-1]).asnumpy() for k, p in params.items() if p.grad_req != "null"},
                        "state": {k: p.data(ctxs[-1]).asnumpy() for k, p in params.items()
                                  if k.startswith(("icd_accum", "feat_bn_running"))},
                        "metrics": {k: v.asnumpy() for k, v in m.items()}})
        runs.append(got)

    def close(x, y, what):  # relative to the array's largest value: float32 sums in another order
        assert np.abs(x - y).max() <= 1e-4 * max(np.abs(y).max(), 1e-6), what

    for a, b in zip(*runs):
        np.testing.assert_allclose(np.concatenate(a["loss"]), np.concatenate(b["loss"]), rtol=1e-5)
        for oa, ob in zip(a["out"], b["out"]):
            assert set(oa) == {"logits", "icd_bu", "icd_td"} == set(ob)
            for k in oa:
                close(oa[k], ob[k], k)
        for group in ("grad", "state", "metrics"):
            for k in a[group]:
                close(a[group][k], b[group][k], k)


@pytest.mark.parametrize("size", [33, 30])
def test_stage2_samples_the_superpixels_where_exact_and_equals_the_general_graph(size):
    """A crop of 8k + 1 pixels (33 -> 5) trains through the stage 2 graph that samples the
    superpixel ids, with the general graph's losses, outputs and gradients bit for bit;
    other sizes (30 -> 4) use the general graph."""
    img, sp, y = batch(2, size=size)
    runs = []
    for force_general in (False, True):
        mx.random.seed(3)
        net = ICDNet(ModelConfig(width=W, max_superpixels=8, dropout=0.0))
        net.initialize()
        net.hybridize(static_alloc=True, static_shape=True)
        if force_general:
            net._stage2_graph = lambda sp, s_hat, net=net: net._train_stages()[2]
        outputs = []
        with autograd.record():
            losses, _ = net.forward_train([(img, sp, y)], step(), outputs)
        autograd.backward(losses)
        used = set(net._sampled.items[0])
        runs.append((losses[0].asnumpy(), {k: v.asnumpy() for k, v in outputs[0].items()},
                     {k[len(net.prefix):]: p.grad().asnumpy() for k, p in net.collect_params().items()
                      if p.grad_req != "null"}))
        if not force_general:
            assert used == ({(8, 8)} if size == 33 else set())
    (la, oa, ga), (lb, ob, gb) = runs
    assert np.array_equal(la, lb)
    assert all(np.array_equal(oa[k], ob[k]) for k in oa)
    assert all(np.array_equal(ga[k], gb[k]) for k in ga) and any(np.abs(g).max() > 0 for g in ga.values())


def test_multiscale_and_flip_inference():
    from icd_mx.stages.infer import infer_multiscale

    net = make(dropout=0.0)
    img, sp, y = batch(2, size=41)
    one = net.infer(img, sp, y)
    same = infer_multiscale(net, img, sp, y)
    for k in one:
        np.testing.assert_array_equal(same[k].asnumpy(), one[k].asnumpy())
    flipped = net.infer(img.flip(axis=3), sp.flip(axis=2), y)
    both = infer_multiscale(net, img, sp, y, flip=True)
    for k in one:
        expected = (one[k] + flipped[k].flip(axis=3)) / 2
        np.testing.assert_allclose(both[k].asnumpy(), expected.asnumpy(), rtol=1e-6, atol=1e-7)
    multi = infer_multiscale(net, img, sp, y, scales=(0.5, 1.0, 1.5), flip=True)
    assert all(v.shape == one[k].shape for k, v in multi.items()) and set(multi) == set(one)
    assert all(np.isfinite(v.asnumpy()).all() for v in multi.values())


@pytest.mark.parametrize("static_shape", [False, True])
def test_build_net_hybridizes_the_training_graphs_as_train_static_shape_says(static_shape):
    """``train.static_shape`` reaches every graph of the training step (the ICD task passes
    it to build_net): static_alloc always, static_shape as configured."""
    from icd_mx.config import TrainConfig
    from icd_mx.nn.build import build_net

    assert TrainConfig().static_shape is True  # the default: the fastest step
    net = build_net(ModelConfig(width=W, max_superpixels=8), [mx.cpu()], static_shape=static_shape)
    img, sp, y = batch(2)
    s = SimpleNamespace(epoch=0, iteration=0, iters_per_epoch=2, reduce=None, log=False)
    with autograd.record():
        losses, _ = net.forward_train([(img, sp, y)], s)
    autograd.backward(losses)
    stages = net._train_stages()
    assert len(stages) == 3
    for stage in (net,) + tuple(stages):
        flags = dict(stage._flags)
        assert flags.get("static_alloc") is True and bool(flags.get("static_shape")) is static_shape
