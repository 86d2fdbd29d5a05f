"""Compare icd-mx with the authors' release (js-fan/ICD) on the same parameters and images.

    python tools/compare_release.py --release ~/src/ICD --config configs/synthetic_demo.yaml --steps 3
    python tools/compare_release.py --release ~/src/ICD --config configs/voc_vgg16_icd.yaml --params snap.params
    python tools/compare_release.py --scores runs/icd/scores/icd_td ~/src/ICD/snapshot/icd/results/scores_icd
    python tools/compare_release.py --seeds runs/icd/seeds/crf ~/src/ICD/snapshot/icd/results/seeds/crf

Prints a table of max abs/rel differences with pass/fail (icd_mx/compat/compare.py has the
checks and tolerances); exit status 0 when every check passes, 1 when one fails.
"""
import sys

from . import load_stage_config, run_main, stage_parser


def body(args):
    from ..compat import compare

    if args.scores or args.seeds:
        kind, (a, b) = ("scores", args.scores) if args.scores else ("seeds", args.seeds)
        return compare.report(compare.compare_folders(kind, a, b), args.json)
    if not args.release:
        raise compare.InputError(*compare.WHERE.split(": ", 1))
    cfg = load_stage_config(args)
    result = compare.compare_with_release(args.release, cfg, args.ids, args.params, args.steps, args.size,
                                          args.warmup, args.lr, lambda m: print(m, file=sys.stderr))
    return compare.report(result, args.json)


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--release", help="path of a checkout of https://github.com/js-fan/ICD")
    parser.add_argument("--ids", nargs="+", help="image ids (default: the first 2 of data.train_list)")
    parser.add_argument("--params", help="a release snapshot, an icd-mx checkpoint or the 20M init "
                                         "(default: the seeded random init, full width)")
    parser.add_argument("--steps", type=int, default=3, help="training steps (1-3)")
    parser.add_argument("--size", type=int, default=161, help="input canvas (images must fit)")
    parser.add_argument("--warmup", type=int, default=2, help="TD warm-up iterations on both sides")
    parser.add_argument("--lr", type=float, default=1e-3, help="SGD learning rate on both sides")
    parser.add_argument("--scores", nargs=2, metavar=("OURS", "REF"), help="diff two folders of .npy score maps")
    parser.add_argument("--seeds", nargs=2, metavar=("OURS", "REF"), help="diff two folders of seed PNGs")
    parser.add_argument("--json", help="also write the results as JSON to this file ('-': print JSON only)")
    return run_main(body, parser.parse_args(argv))
