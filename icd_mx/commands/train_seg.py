"""Train DeepLab-LargeFOV (VGG16 or ResNet-101) on seeds (paper Tables 7-8).

    python tools/train_seg.py --config configs/voc_deeplab_vgg16.yaml seg.seeds=runs/voc_vgg16_icd/seeds/crf
    python tools/train_seg.py --config configs/voc_deeplab_r101.yaml train.gpus=[0,1]

Writes <run>/checkpoints/epoch-NNNN.*, log.txt, metrics.csv and config_train_seg.yaml;
rerunning the same command resumes after the newest checkpoint.
"""
from . import training_command


def main(argv=None):
    return training_command(__doc__, "train_seg", lambda cfg, out: f"done: {out.get('checkpoint')}", argv)
