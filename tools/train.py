#!/usr/bin/env python
"""Train ICD (or the CAM-only baseline, model.mode=cam) as a config says; resumes a killed run.

    python tools/train.py --config configs/voc_vgg16_icd.yaml train.gpus=[0,1]
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
    from icd_mx.train_icd import run_train

    out = run_train(cfg, resume=not args.no_resume)
    print(f"trained {cfg.out_dir}: last checkpoint {out['checkpoint']}")


if __name__ == "__main__":
    run_main(main)
