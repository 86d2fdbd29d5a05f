"""Write the generated mini-VOC (VOC layout, no superpixels; see icd_mx/data/synthetic.py).

    python tools/make_synthetic.py data/minivoc --train 240 --val 60 --classes 6 --seed 0
"""
import argparse
import json

from . import run_main


def body(args):
    from ..data.synthetic import make_minivoc

    stats = make_minivoc(args.root, args.train, args.val, args.seed, args.classes, args.min_side,
                         args.max_side, progress=True, n_test=args.test, saliency=not args.no_saliency)
    print(json.dumps(stats))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="output dataset root")
    ap.add_argument("--train", type=int, default=240, help="train_aug images (train = first half)")
    ap.add_argument("--val", type=int, default=60, help="val images")
    ap.add_argument("--test", type=int, default=0, help="test images (with ground truth, unlike VOC's)")
    ap.add_argument("--no-saliency", action="store_true", help="do not write Saliency/<id>.png")
    ap.add_argument("--classes", type=int, default=20, help="use the first N VOC classes (1..20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-side", type=int, default=120)
    ap.add_argument("--max-side", type=int, default=200)
    args = ap.parse_args(argv)
    if (not 1 <= args.classes <= 20 or args.train < 1 or min(args.val, args.test) < 0
            or not 8 <= args.min_side <= args.max_side):
        ap.error("need 1 <= --classes <= 20, --train >= 1, --val >= 0, --test >= 0, 8 <= --min-side <= --max-side")
    return run_main(body, args)
