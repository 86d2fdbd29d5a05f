#!/usr/bin/env python
"""Pre-train the backbone (with fc6/fc7) on generated patches, the CPU demo's stand-in for
ImageNet; writes <run>/pretrain/init.params in the "20M" init format for model.init.

    python tools/pretrain.py --config configs/synthetic_demo.yaml
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icd_mx.cli import load_stage_config, run_main, stage_parser  # noqa: E402


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")
    args = parser.parse_args(argv)
    cfg = load_stage_config(args)
    from icd_mx.pretrain import run_pretrain

    print(f"pre-trained init: {run_pretrain(cfg, resume=not args.no_resume)}")


if __name__ == "__main__":
    run_main(main)
