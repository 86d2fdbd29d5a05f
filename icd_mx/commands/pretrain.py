"""Pre-train the backbone (with fc6/fc7) on generated patches, the CPU demo's stand-in for
ImageNet; writes <run>/pretrain/init.params in the "20M" init format for model.init.

    python tools/pretrain.py --config configs/synthetic_demo.yaml
"""
from . import training_command


def main(argv=None):
    return training_command(__doc__, "pretrain", lambda cfg, path: f"pre-trained init: {path}", argv)
