#!/usr/bin/env python
"""Evaluate seeds (mIoU, per-class IoU) and score maps (Table 2 threshold sweep, Table 1
pixel mAP) of a run against SegmentationClassAug (icd-reference.md "Evaluation").

    python tools/evaluate.py --run runs/icd                      # every seed folder and score kind
    python tools/evaluate.py --run runs/icd --seeds crf --scores icd_td cam --json out.json
    python tools/evaluate.py --seed-dir some/pngs --list val      # any folder of label PNGs

Writes <run>/eval/seeds_<variant>.json and scores_<kind>.json (atomically), prints tables.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icd_mx.cli import load_stage_config, run_main, stage_parser  # noqa: E402
from icd_mx.errors import InputError  # noqa: E402


def _folders(path, skip_suffix=None):
    if not os.path.isdir(path):
        return []
    return sorted(d for d in os.listdir(path)
                  if os.path.isdir(os.path.join(path, d)) and not (skip_suffix and d.endswith(skip_suffix)))


def body(args):
    cfg = load_stage_config(args)
    from icd_mx import io, metrics
    from icd_mx.data.voc import VOCLayout, read_list

    run = args.run or cfg.out_dir
    layout = VOCLayout(cfg.data.root, cfg.data.superpixel_dir)
    ids = read_list(cfg.data.root, args.list or cfg.seeds.split)
    if not ids:
        raise InputError(args.list or cfg.seeds.split, "empty list")
    results = {}
    if args.seed_dir:
        seed_dirs = {os.path.basename(os.path.normpath(args.seed_dir)): args.seed_dir}
    else:
        names = args.seeds if args.seeds is not None else _folders(os.path.join(run, "seeds"), "_color")
        seed_dirs = {n: os.path.join(run, "seeds", n) for n in names}
    for name, folder in seed_dirs.items():
        if not os.path.isdir(folder):
            raise InputError(folder, "seed folder not found")
        results[name] = metrics.evaluate_seeds(layout, ids, folder, progress=not args.quiet, workers=args.workers)
        if not args.seed_dir:
            io.save_json(os.path.join(run, "eval", f"seeds_{name}.json"), results[name])
    kinds = [] if args.seed_dir else (args.scores if args.scores is not None
                                      else _folders(os.path.join(run, "scores")))
    folders = {kind: os.path.join(run, "scores", kind) for kind in kinds}
    for folder in folders.values():
        if not os.path.isdir(folder):
            raise InputError(folder, "score folder not found")
    if folders:  # every kind in one pass: each image's mask and labels read once
        scored = metrics.evaluate_score_kinds(layout, ids, folders, cfg.data.infer_size, args.bins,
                                              progress=not args.quiet, workers=args.workers)
        for kind in kinds:
            results[kind] = scored[kind]
            io.save_json(os.path.join(run, "eval", f"scores_{kind}.json"), results[kind])
    if not results:
        raise InputError(run, "nothing to evaluate (no seeds/ or scores/ folders)")
    print(metrics.format_tables(results))
    if args.json:
        io.save_json(args.json, results)


def main(argv=None):
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--run", help="run folder (default: runs/<name>)")
    parser.add_argument("--seed-dir", help="evaluate this folder of label PNGs instead of the run's seeds")
    parser.add_argument("--seeds", nargs="*", help="seed variants (default: every folder under <run>/seeds)")
    parser.add_argument("--scores", nargs="*", help="score kinds (default: every folder under <run>/scores)")
    parser.add_argument("--list", help="list name or file (default: seeds.split)")
    parser.add_argument("--bins", type=int, default=100000, help="score bins per class for the mAP")
    parser.add_argument("--workers", type=int, default=2, help="processes over the images (same results)")
    parser.add_argument("--json", help="also write all results to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    run_main(body, parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
