#!/usr/bin/env python
"""Superpixels for a list: FH (sigma 0.8, k 75, min size 75), then merged to <= 64 regions
(icd-reference.md "Superpixels"), written to <data.root>/<data.superpixel_dir>/<id>.png.

    python tools/superpixels.py --config configs/voc_vgg16_icd.yaml superpixels.feature_params=vgg16_20M.params
    python tools/superpixels.py --config configs/synthetic_demo.yaml superpixels.features=color --list train_aug

Resumable: ids whose PNG exists are skipped. The paper's features are ImageNet VGG16
conv5_3 (superpixels.features=vgg, needs superpixels.feature_params); the
mean-colour+position stand-in (superpixels.features=color) is for machines without them.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icd_mx.cli import load_stage_config, run_main, stage_parser  # noqa: E402


def body(args):
    cfg = load_stage_config(args)
    from icd_mx import superpixels
    from icd_mx.data.voc import VOCLayout, read_list

    layout = VOCLayout(cfg.data.root, cfg.data.superpixel_dir)
    ids = []
    for name in args.list or [cfg.data.train_list, cfg.data.val_list]:
        ids += [i for i in read_list(cfg.data.root, name) if i not in ids]
    from icd_mx.io import run_lock

    features = superpixels.feature_source(cfg.superpixels)
    with run_lock(layout.superpixel_dir, "superpixels"):  # the stage's output folder (docs/reliability.md)
        stats = superpixels.run_superpixels(layout, ids, cfg.superpixels, features,
                                            workers=cfg.superpixels.workers, progress=not args.quiet,
                                            overwrite=args.overwrite)
    print(json.dumps(dict(stats, out=layout.superpixel_dir)))


def main(argv=None):
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--list", action="append", help="list name or file (repeatable); default: train and val")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace superpixels made with other settings or feature weights")
    run_main(body, parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
