"""Evaluate seeds (mIoU, per-class IoU) and score maps (Table 2 threshold sweep, Table 1
pixel mAP) of a run against SegmentationClassAug (docs/method.md, "Evaluation").

    python tools/evaluate.py --run runs/icd                      # every seed folder and score kind
    python tools/evaluate.py --run runs/icd --seeds crf --scores icd_td cam --json out.json
    python tools/evaluate.py --seed-dir some/pngs --list val      # any folder of label PNGs

Writes <run>/eval/seeds_<variant>.json and scores_<kind>.json (atomically), prints tables.
"""
from . import load_stage_config, run_main, stage_parser


def body(args):
    cfg = load_stage_config(args)
    from .. import io, metrics
    from ..stages import evaluate

    results = evaluate.run(cfg, args.run, args.seed_dir, args.seeds, args.scores, args.list, args.bins,
                           progress=not args.quiet, workers=args.workers)
    print(metrics.format_tables(results))
    if args.json:
        io.save_json(args.json, results)


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--run", help="run folder (default: runs/<name>)")
    parser.add_argument("--seed-dir", help="evaluate this folder of label PNGs instead of the run's seeds")
    parser.add_argument("--seeds", nargs="*", help="seed variants (default: every folder under <run>/seeds)")
    parser.add_argument("--scores", nargs="*", help="score kinds (default: every folder under <run>/scores)")
    parser.add_argument("--list", help="list name or file (default: seeds.split)")
    parser.add_argument("--bins", type=int, default=100000, help="score bins per class for the mAP")
    parser.add_argument("--workers", type=int, default=2, help="processes over the images (same results)")
    parser.add_argument("--json", help="also write all results to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return run_main(body, parser.parse_args(argv))
