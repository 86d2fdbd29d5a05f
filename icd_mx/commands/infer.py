"""Export score maps (cam, icd_bu, icd_bu_sp, icd_td) of a list with a trained checkpoint.

    python tools/infer.py --config configs/voc_vgg16_icd.yaml infer.split=train_aug
"""
from . import load_stage_config, run_main, stage_parser


def body(args):
    cfg = load_stage_config(args)
    from ..stages import infer

    out = infer.run(cfg, overwrite=args.overwrite)
    print(f"scores of {out['written']} images written ({out['skipped']} already there) "
          f"from {out['checkpoint']} to {cfg.out_dir}/scores")


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace score maps made with another checkpoint or config")
    return run_main(body, parser.parse_args(argv))
