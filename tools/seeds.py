#!/usr/bin/env python
"""Seeds from exported score maps (icd-reference.md "Seeds"): <run>/scores/<kind>/<id>.npy ->
<run>/seeds/<variant>/<id>.png (0..20, 255) and <run>/seeds/<variant>_color/<id>.png.

    python tools/seeds.py --config configs/voc_vgg16_icd.yaml --run runs/icd
    python tools/seeds.py --run runs/demo seeds.variants='[icd_bu:raw, icd_bu_sp:raw, raw, crf, cam_thr]'

Variants: [<kind>:]raw|crf|sal|cam_thr (default from seeds.crf / seeds.saliency). Resumable:
images whose outputs all exist are skipped; seeds made from other score maps are refused
(--overwrite replaces them).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icd_mx.cli import load_stage_config, run_main, stage_parser  # noqa: E402


def body(args):
    cfg = load_stage_config(args)
    from icd_mx import seeds
    from icd_mx.data.voc import VOCLayout, read_list

    run = args.run or cfg.out_dir
    variants = seeds.default_variants(cfg.seeds)
    layout = VOCLayout(cfg.data.root, cfg.data.superpixel_dir, cfg.data.saliency_dir)
    ids = read_list(cfg.data.root, args.list or cfg.seeds.split)
    job = seeds.SeedJob(layout, os.path.join(run, "scores"), os.path.join(run, "seeds"), variants, cfg.seeds,
                        cfg.data.infer_size)
    stats = seeds.generate_seeds(job, ids, workers=cfg.seeds.workers, progress=not args.quiet,
                                 overwrite=args.overwrite)
    print(json.dumps(dict(stats, variants=[v.name for v in variants], out=os.path.join(run, "seeds"))))


def main(argv=None):
    parser = stage_parser(__doc__.splitlines()[0])
    parser.add_argument("--run", help="run folder (default: runs/<name>)")
    parser.add_argument("--list", help="list name or file (default: seeds.split)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace seeds made from other score maps or settings")
    run_main(body, parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
