"""DeepLab-LargeFOV models: shapes, output-stride-8 geometry, multipliers, init loaders, export."""
import numpy as np
import pytest

mx = pytest.importorskip("mxnet")

from icd_mx.errors import InputError  # noqa: E402
from icd_mx.compat import deeplab_init  # noqa: E402
from icd_mx.nn import deeplab  # noqa: E402

TINY = dict(width=0.0625, resnet_layers=(1, 1, 1, 1))


@pytest.fixture(scope="module", params=["vgg16", "resnet101"])
def net(request):
    mx.random.seed(0)
    n = deeplab.get_deeplab(request.param, **TINY)
    n.initialize(mx.init.Xavier())
    return n


@pytest.mark.parametrize("size,out", [(33, 5), (41, 6), (40, 5), (65, 9)])
def test_output_stride_8(net, size, out):
    y = net(mx.nd.zeros((1, 3, size, size + 8)))
    assert y.shape == (1, 21, out, out + 1)


def test_dilations_and_head():
    r = deeplab.get_deeplab("resnet101", **TINY)
    assert r.head.fc6._kwargs["dilate"] == (12, 12) and r.head.fc6._kwargs["pad"] == (12, 12)
    assert r.backbone.layer3[0].conv2._kwargs["dilate"] == (2, 2)
    assert r.backbone.layer4[0].conv2._kwargs["dilate"] == (4, 4)
    assert r.backbone.layer3[0].conv1._kwargs["stride"] == (1, 1)
    assert r.backbone.layer2[0].conv1._kwargs["stride"] == (2, 2)
    v = deeplab.get_deeplab("vgg16", width=1.0)
    assert v.head.fc6.weight.shape == (1024, 512, 3, 3) and v.head.fc8.weight.shape == (21, 1024, 1, 1)


def test_multipliers(net):
    for name, p in net.collect_params().items():
        assert p.lr_mult == (10.0 if "fc8" in name else 1.0), name
        if name.endswith(("_bias", "_beta")):
            assert p.wd_mult == 0.0, name
        if name.endswith(("_weight", "_gamma")):
            assert p.wd_mult == 1.0, name


def test_export_import_symbol(net, tmp_path):
    x = mx.nd.random.uniform(0, 255, (1, 3, 41, 41))
    net.hybridize()
    ref = net(x)
    net.export(str(tmp_path / "deeplab"), 0)
    back = mx.gluon.SymbolBlock.imports(str(tmp_path / "deeplab-symbol.json"), ["data"],
                                        str(tmp_path / "deeplab-0000.params"))
    np.testing.assert_allclose(back(x).asnumpy(), ref.asnumpy(), rtol=1e-4, atol=1e-4)


def test_resnet101_layout_loads_gluoncv_params(tmp_path):
    """The real ResNet-101 layout takes every parameter of gluoncv's resnet101_v1 file."""
    gcv = pytest.importorskip("gluoncv")
    ref = gcv.model_zoo.resnet101_v1()
    ref.initialize()
    ref(mx.nd.zeros((1, 3, 32, 32)))
    path = str(tmp_path / "resnet101_v1.params")
    ref.save_parameters(path)
    ours = deeplab.DilatedResNet()
    ours.initialize()
    report = deeplab_init.load_resnet_imagenet(ours, path)
    assert report["missing"] == [] and report["extra"] == [] and report["loaded"] == 586
    a = ref.features[6][22].body[3].weight.data().asnumpy()
    np.testing.assert_array_equal(ours.layer3[22].conv2.weight.data().asnumpy(), a)


def test_vgg_init_from_release_names(tmp_path):
    net = deeplab.get_deeplab("vgg16", width=0.0625)
    net.initialize()
    params = {f"arg:{k}": mx.nd.ones(p.shape) * i for i, (k, p) in enumerate(
        (n.split("dilatedvgg16", 1)[-1].split("_", 1)[-1] if "conv" in n else n.rsplit("_", 2)[-2] + "_"
         + n.rsplit("_", 1)[-1], p) for n, p in net.collect_params().items() if "fc8" not in n)}
    path = str(tmp_path / "vgg16_20M.params")
    mx.nd.save(path, params)
    report = deeplab_init.load_vgg_init(net, path)
    assert report["missing"] == [] and report["loaded"] == 30
    assert float(net.backbone.conv1_1.weight.data()[0, 0, 0, 0].asscalar()) == 0.0
    assert float(net.head.fc7.bias.data()[0].asscalar()) == 29.0


def test_missing_init_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        deeplab_init.load_resnet_imagenet(deeplab.DilatedResNet(layers=(1, 1, 1, 1)), str(tmp_path / "x.params"))


def test_wrong_init_file_is_refused_not_trained_from_random(tmp_path):
    """A ResNet file given to the VGG16 model (and the reverse) initialises nothing: an error."""
    from icd_mx.config import SegConfig
    from icd_mx.stages.train_seg import build_seg_net

    vgg = deeplab.get_deeplab("vgg16", width=0.0625)
    vgg.initialize()
    vgg_file = str(tmp_path / "vgg.params")
    vgg.save_parameters(vgg_file)
    res_cfg = SegConfig(backbone="resnet101", width=0.0625, resnet_layers=[1, 1, 1, 1])
    with pytest.raises(InputError, match="not a resnet101 init"):
        build_seg_net(res_cfg, mx.cpu(), vgg_file)
    net, report = build_seg_net(SegConfig(backbone="vgg16", width=0.0625), mx.cpu(), vgg_file)
    assert report["missing"] == [] and report["loaded"] == 30
