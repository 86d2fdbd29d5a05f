"""The part classifier used to pre-train the backbone on generated data.

Where no ImageNet weights exist (the CPU demo on the generated mini-VOC), the backbone
is pre-trained on patch classification instead (:mod:`icd_mx.stages.pretrain`). The network is
the ICD backbone with the CAM branch's fc6/fc7 (release names, so the result is written
in the "20M" init format and read by ``model.init`` like DeepLab's ImageNet VGG16), then
a 1x1 classifier and global average pooling: multi-label logits of the object parts (as the
CAM branch, so its detectors are local).
"""
from mxnet.gluon import nn

from .icd import named_conv
from .vgg import DilatedVGG16, relu, scaled


class PartClassifier(nn.HybridBlock):
    """Dilated VGG16 + fc6 (3x3) + fc7 (1x1) + ``part_cls`` (1x1) + global average pooling.

    Parameters
    ----------
    num_labels : int
        Part labels (body, one head per class).
    width : float
        VGG16 channel multiplier (as ``model.width``).

    Input ``(N, 3, H, W)`` RGB 0..255; output logits ``(N, num_labels)``.
    """

    def __init__(self, num_labels, width=1.0, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.backbone = DilatedVGG16(width=width, prefix="")
            ch = scaled(1024, width)
            self.fc6 = named_conv(ch, 3, self.backbone.channels["conv5"], "fc6")
            self.fc7 = named_conv(ch, 1, ch, "fc7")
            self.part_cls = named_conv(num_labels, 1, ch, "part_cls", new=True)

    def hybrid_forward(self, F, x):
        _, _, pool5 = self.backbone(x)
        feat = relu(F, self.fc7(relu(F, self.fc6(pool5))))
        return F.mean(self.part_cls(feat), axis=(2, 3))
