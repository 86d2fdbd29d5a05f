"""Release-format round trips, the 20M init, and the mismatch report."""
import mxnet as mx
import numpy as np
import pytest

from icd_mx.compat import convert_file, export_release, gluoncv_to_20m, load_params
from icd_mx.compat.release import INIT_NAMES, release_names
from icd_mx.config import ModelConfig
from icd_mx.errors import InputError
from icd_mx.nn import ICDNet

W = 1 / 16


def make(**kw):
    kw.setdefault("width", W)
    net = ICDNet(ModelConfig(**kw))
    net.initialize()
    return net


def randomise(net, seed=0):
    rng = np.random.RandomState(seed)
    for p in net.collect_params().values():
        p.set_data(mx.nd.array(rng.randn(*p.shape)))


def values(net):
    return {k: p.data().asnumpy() for k, p in release_names(net).items() for p in [p[0]]}


def test_release_names_at_full_width():
    net = ICDNet(ModelConfig(width=1.0))  # shapes only, no initialisation
    names = {k: (p.shape, kind) for k, (p, kind) in release_names(net).items()}
    assert names["icd_bu_weight"] == ((20, 512), "arg")
    assert names["icd_accum_resign_moving_mean"] == ((20, 2), "aux")
    assert names["conv_ft_weight"] == ((20, 2560, 1, 1), "arg")
    assert names["feat_bn_moving_var"] == ((512,), "aux") and names["feat_bn_gamma"][1] == "arg"
    assert names["fc6_weight"][0] == (1024, 512, 3, 3) and names["fc7_ft_bias"][0] == (1024,)
    expected = set(INIT_NAMES) | {"fc8_weight", "fc8_bias", "feat_bn_gamma", "feat_bn_beta", "feat_bn_moving_mean",
                                  "feat_bn_moving_var", "icd_bu_weight", "icd_accum_resign_moving_mean",
                                  "fc6_ft_weight", "fc6_ft_bias", "fc7_ft_weight", "fc7_ft_bias", "conv_ft_weight"}
    assert set(names) == expected


def test_release_round_trip(tmp_path):
    src = make()
    randomise(src)
    path = str(tmp_path / "snap.params")
    keys = export_release(src, path)
    assert "aux:icd_accum_resign_moving_mean" in keys and "arg:conv_ft_weight" in keys
    assert "aux:feat_bn_moving_mean" in keys
    dst = make()
    report = load_params(dst, path)
    assert report["format"] == "release" and report["missing"] == [] and report["extra"] == []
    a, b = values(src), values(dst)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_our_format_round_trip(tmp_path):
    src = make()
    randomise(src, 1)
    path = str(tmp_path / "ours.params")
    src.save_parameters(path)
    dst = ICDNet(ModelConfig(width=W))  # not initialised: load_params initialises
    assert load_params(dst, path, ctx=mx.cpu())["format"] == "ours"
    a, b = values(src), values(dst)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_mismatch_report_names_file_and_parameters(tmp_path):
    src = make()
    path = str(tmp_path / "bad.params")
    export_release(src, path)
    arrays = mx.nd.load(path)
    del arrays["arg:fc8_bias"]
    arrays["arg:conv2_1_weight"] = mx.nd.zeros((3, 3, 3, 3))
    arrays["arg:surprise"] = mx.nd.zeros((1,))
    mx.nd.save(path, arrays)
    with pytest.raises(InputError) as e:
        load_params(make(), path)
    msg = str(e.value)
    assert path in msg and "missing 1: fc8_bias" in msg and "extra 1: surprise" in msg
    assert "conv2_1_weight file (3, 3, 3, 3) vs net (8, 4, 3, 3)" in msg
    with pytest.raises(InputError, match="mis-shaped"):
        load_params(make(), path, allow_missing=True, ignore_extra=True)


def test_cam_net_reads_icd_snapshot_only_when_extras_are_allowed(tmp_path):
    path = str(tmp_path / "icd.params")
    export_release(make(), path)
    with pytest.raises(InputError, match="extra"):
        load_params(make(mode="cam"), path)
    report = load_params(make(mode="cam"), path, ignore_extra=True)
    assert "icd_bu_weight" in report["extra"] and report["loaded"] == 32


def test_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_params(make(), str(tmp_path / "none.params"))
    junk = tmp_path / "junk.params"
    junk.write_bytes(b"not params at all")
    with pytest.raises(InputError, match="junk.params"):
        load_params(make(), str(junk))


def fake_gluoncv(rng, width=W):
    chans = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    params, cin = {}, 3
    for i, c in enumerate(chans):
        c = int(c * width)
        params[f"vgg0_conv{i}_weight"] = rng.randn(c, cin, 3, 3)
        params[f"vgg0_conv{i}_bias"] = rng.randn(c)
        cin = c
    d = int(4096 * width)
    for i, (o, n_in) in enumerate([(d, cin * 49), (d, d), (10, d)]):
        params[f"vgg0_dense{i}_weight"] = rng.randn(o, n_in)
        params[f"vgg0_dense{i}_bias"] = rng.randn(o)
    return {k: mx.nd.array(v) for k, v in params.items()}


def test_20m_decimation_on_generated_weights(tmp_path):
    g = fake_gluoncv(np.random.RandomState(0))
    out = gluoncv_to_20m(g, adapt_input=False)
    assert sorted(k[4:] for k in out) == sorted(INIT_NAMES)
    w6 = g["vgg0_dense0_weight"].asnumpy().reshape(256, 32, 7, 7)
    f6 = out["arg:fc6_weight"].asnumpy()
    assert f6.shape == (64, 32, 3, 3)
    for o, i, ky, kx in [(0, 0, 0, 0), (5, 3, 1, 2), (63, 31, 2, 2)]:
        assert f6[o, i, ky, kx] == np.float32(w6[4 * o, i, 3 * ky, 3 * kx])
    np.testing.assert_array_equal(out["arg:fc6_bias"].asnumpy(), g["vgg0_dense0_bias"].asnumpy()[::4])
    f7 = out["arg:fc7_weight"].asnumpy()
    assert f7.shape == (64, 64, 1, 1) and f7[7, 9, 0, 0] == g["vgg0_dense1_weight"].asnumpy()[28, 36]
    np.testing.assert_array_equal(out["arg:conv3_2_weight"].asnumpy(), g["vgg0_conv5_weight"].asnumpy())
    # structural (save_parameters) names give the same result
    structural = {}
    for i in range(13):
        for s in ("weight", "bias"):
            structural[f"features.{2 * i}.{s}"] = g[f"vgg0_conv{i}_{s}"]
    for j, name in enumerate(["features.40", "features.42", "output"]):
        for s in ("weight", "bias"):
            structural[f"{name}.{s}"] = g[f"vgg0_dense{j}_{s}"]
    again = gluoncv_to_20m(structural, adapt_input=False)
    for k in out:
        np.testing.assert_array_equal(out[k].asnumpy(), again[k].asnumpy())
    # the file converts and loads as an init: fc6_ft/fc7_ft become copies of fc6/fc7
    src, dst = tmp_path / "vgg16.params", str(tmp_path / "vgg16_20M.params")
    mx.nd.save(str(src), g)
    convert_file(str(src), dst)
    net = make()
    report = load_params(net, dst)
    assert report["format"] == "init" and report["loaded"] == len(INIT_NAMES)
    np.testing.assert_array_equal(net.fc6_ft.weight.data().asnumpy(), net.fc6.weight.data().asnumpy())
    np.testing.assert_array_equal(net.fc7_ft.bias.data().asnumpy(), net.fc7.bias.data().asnumpy())


def test_20m_input_adaptation_is_functional():
    g = fake_gluoncv(np.random.RandomState(1))
    out = gluoncv_to_20m(g, adapt_input=True)
    rng = np.random.RandomState(2)
    x = rng.uniform(0, 255, (1, 3, 5, 5))
    z = (x / 255 - np.array([0.485, 0.456, 0.406])[:, None, None]) / np.array([0.229, 0.224, 0.225])[:, None, None]
    w, b = g["vgg0_conv0_weight"].asnumpy(), g["vgg0_conv0_bias"].asnumpy()
    expected = (w * z[0, :, 1:4, 1:4]).sum(axis=(1, 2, 3)) + b  # centre pixel, no padding involved
    w2, b2 = out["arg:conv1_1_weight"].asnumpy(), out["arg:conv1_1_bias"].asnumpy()
    got = (w2 * (x[0, :, 1:4, 1:4] - 127)).sum(axis=(1, 2, 3)) + b2
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_convert_tool_writes_a_loadable_init_and_fails_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    src, dst = tmp_path / "vgg16.params", tmp_path / "out" / "vgg16_20M.params"
    mx.nd.save(str(src), fake_gluoncv(np.random.RandomState(3)))
    tool = [sys.executable, os.path.join(repo, "tools", "convert_vgg16.py")]
    ok = subprocess.run(tool + [str(src), str(dst)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert load_params(make(), str(dst))["format"] == "init"
    bad = subprocess.run(tool + [str(tmp_path / "absent.params"), str(dst)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "absent.params" in bad.stderr


def test_load_backbone_reads_every_format(tmp_path):
    from icd_mx.compat.release import export_init, load_backbone

    net = make()
    randomise(net, 4)
    x = mx.nd.array(np.random.RandomState(5).uniform(0, 255, (1, 3, 33, 33)))
    want = net.backbone(x)[1].asnumpy()
    files = {"release": str(tmp_path / "r.params"), "init": str(tmp_path / "i.params"),
             "ours": str(tmp_path / "o.params")}
    export_release(net, files["release"])
    export_init(net, files["init"])
    net.save_parameters(files["ours"])
    for fmt, path in files.items():
        got = load_backbone(path, width=W)(x)[1].asnumpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=fmt)
    partial = {k: v for k, v in mx.nd.load(files["init"]).items() if "conv5" not in k}
    mx.nd.save(str(tmp_path / "p.params"), partial)
    with pytest.raises(InputError, match="no VGG16 backbone.*conv5_1_weight"):
        load_backbone(str(tmp_path / "p.params"), width=W)


def test_superpixel_features_see_the_raw_image(tmp_path):
    """The release feeds its feature VGG16 the raw 0..255 image (no 127 subtracted) on a canvas
    padded with 127: VGGFeatures must equal our backbone run on (image + 127) with the padding
    at 254, i.e. the same numbers after our graph's own -127."""
    from icd_mx.superpixels import VGGFeatures

    net = make()
    randomise(net, 6)
    path = str(tmp_path / "r.params")
    export_release(net, path)
    img = np.random.RandomState(7).randint(0, 256, (20, 27, 3)).astype(np.uint8)
    got = VGGFeatures(path, width=W, size=33)(img)
    canvas = np.full((33, 33, 3), 127 + 127, np.float32)
    canvas[:20, :27] = img.astype(np.float32) + 127
    conv5 = net.backbone(mx.nd.array(canvas.transpose(2, 0, 1)[None]))[1]
    want = mx.nd.contrib.BilinearResize2D(conv5, height=33, width=33)[0, :, :20, :27].asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_bn_beta_zero_survives_loading_a_learnt_beta(tmp_path):
    src = make()
    randomise(src, 8)
    path = str(tmp_path / "snap.params")
    export_release(src, path)
    assert np.abs(src.feat_bn.beta.data().asnumpy()).max() > 0
    dst = make(bn_beta="zero")
    load_params(dst, path)
    assert np.abs(dst.feat_bn.beta.data().asnumpy()).max() == 0
    assert dst.feat_bn.beta.grad_req == "null"
    np.testing.assert_array_equal(dst.feat_bn.running_mean.data().asnumpy(),
                                  src.feat_bn.running_mean.data().asnumpy())
