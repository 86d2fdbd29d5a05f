"""The evaluation stage: seeds (mIoU, per-class IoU) and score maps (Table 2 threshold
sweep, Table 1 pixel mAP) of a run against SegmentationClassAug (docs/method.md,
"Evaluation"; the measures are :mod:`icd_mx.metrics`).

Writes ``<run>/eval/seeds_<variant>.json`` and ``scores_<kind>.json`` (atomically).
"""
import os

from .. import io, metrics
from ..data.voc import VOCLayout, read_list
from ..errors import InputError


def _folders(path, skip_suffix=None):
    if not os.path.isdir(path):
        return []
    return sorted(d for d in os.listdir(path)
                  if os.path.isdir(os.path.join(path, d)) and not (skip_suffix and d.endswith(skip_suffix)))


def run(cfg, run_dir=None, seed_dir=None, seeds=None, scores=None, split=None, bins=100000, progress=True,
        workers=2):
    """Evaluate a run's seed folders and score kinds; return ``{name: record}``.

    ``seeds`` / ``scores``: the seed variants and score kinds (default: every folder under
    ``<run>/seeds`` and ``<run>/scores``); ``seed_dir``: any folder of label PNGs instead
    (its record is not written); ``split``: the list (default ``seeds.split``); ``workers``:
    processes over the images (the same results for any number).
    """
    run_dir = run_dir or cfg.out_dir
    layout = VOCLayout(cfg.data.root, cfg.data.superpixel_dir)
    ids = read_list(cfg.data.root, split or cfg.seeds.split)
    if not ids:
        raise InputError(split or cfg.seeds.split, "empty list")
    results = {}
    if seed_dir:
        seed_dirs = {os.path.basename(os.path.normpath(seed_dir)): seed_dir}
    else:
        names = seeds if seeds is not None else _folders(os.path.join(run_dir, "seeds"), "_color")
        seed_dirs = {n: os.path.join(run_dir, "seeds", n) for n in names}
    for name, folder in seed_dirs.items():
        if not os.path.isdir(folder):
            raise InputError(folder, "seed folder not found")
        results[name] = metrics.evaluate_seeds(layout, ids, folder, progress=progress, workers=workers)
        if not seed_dir:
            io.save_json(os.path.join(run_dir, "eval", f"seeds_{name}.json"), results[name])
    kinds = [] if seed_dir else (scores if scores is not None else _folders(os.path.join(run_dir, "scores")))
    folders = {kind: os.path.join(run_dir, "scores", kind) for kind in kinds}
    for folder in folders.values():
        if not os.path.isdir(folder):
            raise InputError(folder, "score folder not found")
    if folders:  # every kind in one pass: each image's mask and labels read once
        scored = metrics.evaluate_score_kinds(layout, ids, folders, cfg.data.infer_size, bins,
                                              progress=progress, workers=workers)
        for kind in kinds:
            results[kind] = scored[kind]
            io.save_json(os.path.join(run_dir, "eval", f"scores_{kind}.json"), results[kind])
    if not results:
        raise InputError(run_dir, "nothing to evaluate (no seeds/ or scores/ folders)")
    return results
