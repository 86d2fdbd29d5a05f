"""The ICD task's from-scratch initialisation and its engine hooks."""
import mxnet as mx
import numpy as np

from icd_mx.config import ModelConfig
from icd_mx.nn.icd import ICDNet
from icd_mx.nn.build import init_from_scratch


def _weights(net):
    return {n.split("_", 1)[1]: p.data().asnumpy() for n, p in net.collect_params().items()}


def test_scratch_init_scales_conv1_and_keeps_new_layers():
    mx.random.seed(0)
    net = ICDNet(ModelConfig(width=0.125))
    init_from_scratch(net, [mx.cpu()], pixel_scale=64.0)
    w = _weights(net)
    fan_in = w["conv1_1_weight"][0].size
    # He std sqrt(2 / fan_in), divided by the pixel spread
    assert np.isclose(w["conv1_1_weight"].std(), np.sqrt(2.0 / fan_in) / 64, rtol=0.25)
    assert np.isclose(w["fc8_weight"].std(), 0.01, rtol=0.25)          # release: N(0, 0.01)
    assert np.array_equal(w["fc6_ft_weight"], w["fc6_weight"])          # TD copies of fc6/fc7


def test_dirac_start_is_an_identity_plus_noise():
    mx.random.seed(0)
    net = ICDNet(ModelConfig(width=0.125, mode="cam"))
    init_from_scratch(net, [mx.cpu()], dirac=0.1)
    w = _weights(net)["conv2_2_weight"]                  # 16 -> 16 channels at width 1/8
    centre = w[:, :, 1, 1]
    noise = w.copy()
    noise[np.arange(16), np.arange(16), 1, 1] -= 1.0
    assert np.all(np.diag(centre) > 0.5)
    assert np.abs(noise).max() < 0.1 * 4 * np.sqrt(2.0 / w[0].size)
    widen = _weights(net)["conv2_1_weight"]              # 8 -> 16: the extra outputs repeat inputs
    assert np.all(widen[np.arange(8, 16), np.arange(8) % 8, 1, 1] > 0.5)
    # a ReLU'd input passes the identity layers unchanged up to the noise
    x = mx.nd.random.uniform(0, 1, (1, 16, 8, 8))
    conv = mx.nd.Convolution(x, mx.nd.array(w), kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=True)
    assert (conv - x).abs().mean().asscalar() < 0.2 * x.mean().asscalar()
