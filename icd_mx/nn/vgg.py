"""DeepLab-style dilated VGG16 backbone (docs/method.md "Network").

Release geometry: conv1..conv4 blocks 3x3 pad 1 + ReLU; pool1-3 max 3x3 stride 2
pad 1; pool4 max 3x3 stride 1 pad 1; conv5_1..5_3 dilation 2 pad 2; pool5 max 3x3
s1 p1 followed by avg 3x3 s1 p1. Output stride 8 (321 -> 41, 513 -> 65).

Parameter names follow the release (``conv1_1_weight`` ... ``conv5_3_bias``) under
the block prefix, so checkpoints map one to one (``icd_mx.compat.release``).
"""
from mxnet.gluon import nn

# (block index, number of convs, channels at width 1.0)
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
PIXEL_MEAN = 127.0  # docs/method.md "Data conventions": one scalar, no std scaling


def relu(F, x):
    """ReLU as ``Activation(act_type="relu")``, the release's operator: MXNet's CPU build
    runs it in oneDNN on the convolution's own memory layout, where the plain ``relu``
    operator first copies each map into the default layout (more than twice the peak
    training memory; docs/architecture.md, "Network"). Same values."""
    return F.Activation(x, act_type="relu")


def scaled(channels, width):
    """Channel count ``channels`` scaled by the width multiplier (at least 1)."""
    return max(1, int(round(channels * width)))


def conv_names():
    """The release names of the 13 backbone convolutions, in order."""
    return [f"conv{b}_{i}" for b, n, _ in VGG16_BLOCKS for i in range(1, n + 1)]


class DilatedVGG16(nn.HybridBlock):
    """Dilated VGG16 (output stride 8) with a channel width multiplier.

    Parameters
    ----------
    width : float
        Multiplier on every channel count (1.0 = VGG16; 1/4, 1/8 for CPU configs).
    mean : float
        Scalar subtracted from the input: 127 in the ICD, CAM and DeepLab graphs, 0 for
        the superpixel feature net, which the release feeds the raw 0..255 image
        (docs/method.md, "Superpixels").

    Input: ``(N, 3, H, W)`` RGB float in 0..255 (``mean`` is subtracted inside).
    Returns ``(conv4_3, conv5_3, pool5)``, all after ReLU, at stride 8.
    """

    def __init__(self, width=1.0, mean=PIXEL_MEAN, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.mean = float(mean)
        self.channels = {}
        in_ch = 3
        with self.name_scope():
            for b, n, ch in VGG16_BLOCKS:
                out = scaled(ch, width)
                dil = 2 if b == 5 else 1
                for i in range(1, n + 1):
                    name = f"conv{b}_{i}"
                    conv = nn.Conv2D(out, 3, padding=dil, dilation=dil, in_channels=in_ch, prefix=name + "_")
                    conv.bias.wd_mult = 0.0  # Module decays only *_weight (docs/method.md "MXNet conventions")
                    setattr(self, name, conv)
                    in_ch = out
                self.channels[f"conv{b}"] = out

    def hybrid_forward(self, F, x):
        if self.mean:
            x = x - self.mean
        conv4 = None
        for b, n, _ in VGG16_BLOCKS:
            for i in range(1, n + 1):
                x = relu(F, getattr(self, f"conv{b}_{i}")(x))
            if b <= 3:
                x = F.Pooling(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")
            elif b == 4:
                conv4 = x
                x = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="max")
        conv5 = x
        x = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="max")
        # count_include_pad as Caffe/MXNet default (the release uses MXNet's default)
        pool5 = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="avg")
        return conv4, conv5, pool5
