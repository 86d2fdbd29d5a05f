#!/usr/bin/env python
"""Train DeepLab-LargeFOV (VGG16 or ResNet-101) on seeds (paper Tables 7-8).

    python tools/train_seg.py --config configs/voc_deeplab_vgg16.yaml seg.seeds=runs/voc_vgg16_icd/seeds/crf
    python tools/train_seg.py --config configs/voc_deeplab_r101.yaml train.gpus=[0,1]

Writes <run>/checkpoints/epoch-NNNN.*, log.txt, metrics.csv and config_train_seg.yaml;
rerunning the same command resumes after the newest checkpoint.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icd_mx.cli import load_stage_config, run_main, stage_parser  # noqa: E402


def body(args):
    cfg = load_stage_config(args)  # sets OMP threads before MXNet is imported
    from icd_mx.seg.task import train_seg

    result = train_seg(cfg, resume=not args.no_resume)
    print(f"done: {result.get('checkpoint')}")


def main(argv=None):
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--no-resume", action="store_true", help="start from epoch 0 even if checkpoints exist")
    run_main(body, parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
