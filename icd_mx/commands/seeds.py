"""Seeds from exported score maps (docs/method.md, "Seeds"): <run>/scores/<kind>/<id>.npy ->
<run>/seeds/<variant>/<id>.png (0..20, 255) and <run>/seeds/<variant>_color/<id>.png.

    python tools/seeds.py --config configs/voc_vgg16_icd.yaml --run runs/icd
    python tools/seeds.py --run runs/demo seeds.variants='[icd_bu:raw, icd_bu_sp:raw, raw, crf, cam_thr]'

Variants: [<kind>:]raw|crf|sal|cam_thr (default from seeds.crf / seeds.saliency). Resumable:
images whose outputs all exist are skipped; seeds made from other score maps are refused
(--overwrite replaces them).
"""
import json

from . import load_stage_config, run_main, stage_parser


def body(args):
    cfg = load_stage_config(args)
    from ..stages import seeds

    print(json.dumps(seeds.run(cfg, args.run, args.list, progress=not args.quiet, overwrite=args.overwrite)))


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--run", help="run folder (default: runs/<name>)")
    parser.add_argument("--list", help="list name or file (default: seeds.split)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace seeds made from other score maps or settings")
    return run_main(body, parser.parse_args(argv))
