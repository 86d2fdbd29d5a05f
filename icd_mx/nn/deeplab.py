"""DeepLab-LargeFOV for the segmentation stage (paper Tables 7 and 8).

Two backbones, both at output stride 8 (an input of ``8k + 1`` pixels gives ``k + 1``
outputs, output ``i`` sitting on input pixel ``8 i``):

- ``vgg16``: :class:`~icd_mx.nn.vgg.DilatedVGG16` (the ICD backbone, RGB 0..255 with 127
  subtracted inside), then the LargeFOV head. Initialised from DeepLab's "VGG16 20M"
  params (fc6 3x3x512x1024 used here with dilation 12, fc7 1x1x1024x1024).
- ``resnet101``: a ResNet-101 v1 (the layout of gluoncv's ``resnet101_v1``: stride on the
  first 1x1 conv of a bottleneck, biases on the two 1x1 convs) with ``layer3`` dilated
  by 2 and ``layer4`` by 4 instead of striding, ImageNet normalisation inside, then the
  LargeFOV head. Initialised from gluoncv's ``resnet101_v1`` params file, read from a
  path (:func:`icd_mx.compat.deeplab_init.load_resnet_imagenet`), never downloaded.

LargeFOV head (Chen et al., DeepLab, ICLR 2015): fc6 3x3 dilation 12, 1024 channels,
ReLU, dropout 0.5; fc7 1x1 1024, ReLU, dropout 0.5; fc8 1x1 -> 21 classes, N(0, 0.01).
Multipliers (:func:`set_multipliers`): lr x10 on fc8, no weight decay on biases and
BatchNorm beta (MXNet Module's rule, docs/method.md "MXNet conventions").
"""

import numpy as np
from mxnet import init
from mxnet.gluon import HybridBlock, nn

from ..errors import InputError
from .vgg import DilatedVGG16, relu, scaled

NUM_SEG_CLASSES = 21
RESNET101_LAYERS = (3, 4, 23, 3)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class LargeFOVHead(HybridBlock):
    """fc6 (3x3, dilation 12) -> fc7 (1x1) -> fc8 (1x1, ``num_classes``).

    Parameters
    ----------
    in_channels : int
        Channels of the backbone feature map.
    channels : int
        Width of fc6/fc7 (1024 in DeepLab-LargeFOV).
    num_classes : int
        Output classes (21: background + 20).
    dilation : int
        fc6 dilation (12: the "large field of view").
    dropout : float
        Dropout after fc6 and fc7.
    """

    def __init__(self, in_channels, channels=1024, num_classes=NUM_SEG_CLASSES, dilation=12, dropout=0.5,
                 **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.fc6 = nn.Conv2D(channels, 3, padding=dilation, dilation=dilation, in_channels=in_channels,
                                 prefix="fc6_")
            self.fc7 = nn.Conv2D(channels, 1, in_channels=channels, prefix="fc7_")
            self.fc8 = nn.Conv2D(num_classes, 1, in_channels=channels, prefix="fc8_",
                                 weight_initializer=init.Normal(0.01), bias_initializer="zeros")
            self.drop6 = nn.Dropout(dropout) if dropout > 0 else None
            self.drop7 = nn.Dropout(dropout) if dropout > 0 else None

    def hybrid_forward(self, F, x):
        x = relu(F, self.fc6(x))
        if self.drop6 is not None:
            x = self.drop6(x)
        x = relu(F, self.fc7(x))
        if self.drop7 is not None:
            x = self.drop7(x)
        return self.fc8(x)


class DeepLabVGG16(HybridBlock):
    """DeepLab-LargeFOV on the dilated VGG16 (input RGB 0..255, output logits at stride 8).

    Parameters
    ----------
    width : float
        Channel multiplier of the backbone and of fc6/fc7 (1.0 = the paper's model).
    num_classes : int
        Output classes.
    dropout : float
        Head dropout.
    """

    def __init__(self, width=1.0, num_classes=NUM_SEG_CLASSES, dropout=0.5, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.backbone = DilatedVGG16(width=width)
            self.head = LargeFOVHead(scaled(512, width), scaled(1024, width), num_classes, 12, dropout)

    def hybrid_forward(self, F, x):
        _, _, pool5 = self.backbone(x)
        return self.head(pool5)


class Bottleneck(HybridBlock):
    """ResNet v1 bottleneck (stride on the first 1x1 conv), with dilation on the 3x3 conv."""

    def __init__(self, in_channels, channels, stride=1, dilation=1, downsample=False, frozen_bn=True, **kwargs):
        super().__init__(**kwargs)
        mid = channels // 4
        with self.name_scope():
            self.conv1 = nn.Conv2D(mid, 1, strides=stride, in_channels=in_channels)
            self.bn1 = _bn(mid, frozen_bn)
            self.conv2 = nn.Conv2D(mid, 3, padding=dilation, dilation=dilation, use_bias=False, in_channels=mid)
            self.bn2 = _bn(mid, frozen_bn)
            self.conv3 = nn.Conv2D(channels, 1, in_channels=mid)
            self.bn3 = _bn(channels, frozen_bn)
            self.down_conv = None
            if downsample:
                self.down_conv = nn.Conv2D(channels, 1, strides=stride, use_bias=False, in_channels=in_channels)
                self.down_bn = _bn(channels, frozen_bn)

    def hybrid_forward(self, F, x):
        out = relu(F, self.bn1(self.conv1(x)))
        out = relu(F, self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = self.down_bn(self.down_conv(x)) if self.down_conv is not None else x
        return relu(F, out + shortcut)


class DilatedResNet(HybridBlock):
    """ResNet v1 with ``layer3``/``layer4`` dilated (2, 4) instead of strided: output stride 8.

    Parameters
    ----------
    layers : tuple of int
        Bottlenecks per stage; (3, 4, 23, 3) is ResNet-101 (smaller tuples for tests).
    width : float
        Channel multiplier (1.0 = ResNet-101).
    frozen_bn : bool
        BatchNorm uses its moving statistics in training too (DeepLab's practice with
        small per-device batches).

    Input ``(N, 3, H, W)`` RGB 0..255 (ImageNet mean/std normalisation inside); output the
    ``layer4`` features, ``2048 * width`` channels.
    """

    def __init__(self, layers=RESNET101_LAYERS, width=1.0, frozen_bn=True, **kwargs):
        super().__init__(**kwargs)
        stem = scaled(64, width)
        self.out_channels = scaled(2048, width)
        with self.name_scope():
            mean = np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1) * 255
            std = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1) * 255
            self.mean = self.params.get_constant("mean", mean)
            self.std = self.params.get_constant("std", std)
            self.stem_conv = nn.Conv2D(stem, 7, strides=2, padding=3, use_bias=False, in_channels=3)
            self.stem_bn = _bn(stem, frozen_bn)
            in_ch = stem
            for i, (n, stride, dilation) in enumerate(zip(layers, (1, 2, 1, 1), (1, 1, 2, 4))):
                out_ch = scaled(256 * 2 ** i, width)
                stage = nn.HybridSequential(prefix=f"layer{i + 1}_")
                with stage.name_scope():
                    for j in range(n):
                        stage.add(Bottleneck(in_ch, out_ch, stride if j == 0 else 1, dilation,
                                             downsample=(j == 0), frozen_bn=frozen_bn))
                        in_ch = out_ch
                setattr(self, f"layer{i + 1}", stage)
        self.num_stages = len(layers)

    def hybrid_forward(self, F, x, mean, std):
        x = F.broadcast_div(F.broadcast_sub(x, mean), std)
        x = relu(F, self.stem_bn(self.stem_conv(x)))
        x = F.Pooling(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x


class DeepLabResNet(HybridBlock):
    """DeepLab-LargeFOV on the dilated ResNet (ResNet-101 by default).

    Parameters
    ----------
    layers, width, frozen_bn
        See :class:`DilatedResNet`.
    num_classes : int
        Output classes.
    dropout : float
        Head dropout.
    """

    def __init__(self, layers=RESNET101_LAYERS, width=1.0, frozen_bn=True, num_classes=NUM_SEG_CLASSES,
                 dropout=0.5, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.backbone = DilatedResNet(layers, width, frozen_bn)
            self.head = LargeFOVHead(self.backbone.out_channels, scaled(1024, width), num_classes, 12, dropout)

    def hybrid_forward(self, F, x):
        return self.head(self.backbone(x))


def get_deeplab(backbone="vgg16", width=1.0, resnet_layers=RESNET101_LAYERS, frozen_bn=True,
                num_classes=NUM_SEG_CLASSES, dropout=0.5):
    """Build DeepLab-LargeFOV (``backbone`` = ``vgg16`` or ``resnet101``) with multipliers set.

    Parameters
    ----------
    backbone : str
        ``vgg16`` or ``resnet101``.
    width : float
        Channel multiplier (1.0 = the paper's models; 1/8 for CPU tests).
    resnet_layers : sequence of int
        Bottlenecks per ResNet stage (ResNet-101 by default).
    frozen_bn : bool
        ResNet BatchNorm uses moving statistics in training.
    num_classes : int
        Output classes.
    dropout : float
        Head dropout.

    Returns
    -------
    HybridBlock
        Uninitialised network; call ``initialize`` and then an init loader.
    """
    if backbone == "vgg16":
        net = DeepLabVGG16(width, num_classes, dropout)
    elif backbone == "resnet101":
        net = DeepLabResNet(tuple(resnet_layers), width, frozen_bn, num_classes, dropout)
    else:
        raise InputError("seg.backbone", f"unknown backbone {backbone!r} (vgg16 | resnet101)")
    set_multipliers(net)
    return net


def set_multipliers(net, classifier_lr_mult=10.0):
    """lr x ``classifier_lr_mult`` on fc8; ``wd_mult = 0`` on biases and BatchNorm beta."""
    for name, param in net.collect_params().items():
        if name.endswith("_bias") or name.endswith("_beta"):
            param.wd_mult = 0.0
        if "fc8" in name:
            param.lr_mult = classifier_lr_mult
    return net


def _bn(channels, frozen):
    return nn.BatchNorm(in_channels=channels, use_global_stats=frozen)
