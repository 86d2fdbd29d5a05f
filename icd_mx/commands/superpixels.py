"""Superpixels for a list: FH (sigma 0.8, k 75, min size 75), then merged to <= 64 regions
(docs/method.md, "Superpixels"), written to <data.root>/<data.superpixel_dir>/<id>.png.

    python tools/superpixels.py --config configs/voc_vgg16_icd.yaml superpixels.feature_params=vgg16_20M.params
    python tools/superpixels.py --config configs/synthetic_demo.yaml superpixels.features=color --list train_aug

Resumable: ids whose PNG exists are skipped. The paper's features are ImageNet VGG16
conv5_3 (superpixels.features=vgg, needs superpixels.feature_params); the
mean-colour+position stand-in (superpixels.features=color) is for machines without them.
"""
import json

from . import load_stage_config, run_main, stage_parser


def body(args):
    cfg = load_stage_config(args)
    from ..stages import superpixels

    print(json.dumps(superpixels.run(cfg, args.list, progress=not args.quiet, overwrite=args.overwrite)))


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--list", action="append", help="list name or file (repeatable); default: train and val")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace superpixels made with other settings or feature weights")
    return run_main(body, parser.parse_args(argv))
