#!/usr/bin/env python
"""Export score maps (cam, icd_bu, icd_bu_sp, icd_td) of a list with a trained checkpoint.

    python tools/infer.py --config configs/voc_vgg16_icd.yaml infer.split=train_aug
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icd_mx.cli import load_stage_config, run_main, stage_parser  # noqa: E402


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace score maps made with another checkpoint or config")
    args = parser.parse_args(argv)
    cfg = load_stage_config(args)
    from icd_mx.infer import run_infer

    out = run_infer(cfg, overwrite=args.overwrite)
    print(f"scores of {out['written']} images written ({out['skipped']} already there) "
          f"from {out['checkpoint']} to {cfg.out_dir}/scores")


if __name__ == "__main__":
    run_main(main)
