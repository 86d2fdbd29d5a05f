"""Prepare or check a VOC2012 dataset root.

Build ``SegmentationClassAug`` and ``train_aug.txt`` from VOC2012 + SBD::

    python tools/prepare_voc.py --voc data/VOCdevkit/VOC2012 --sbd data/benchmark_RELEASE/dataset

Check a root (counts per list, missing files, size mismatches image/mask/superpixels)::

    python tools/prepare_voc.py --check data/VOCdevkit/VOC2012 [--lists train_aug val]
"""
import argparse
import sys

from . import run_main


def body(args):
    from ..data import prepare

    if args.voc and args.sbd:
        counts = prepare.build_aug(args.voc, args.sbd)
        print(f"SegmentationClassAug: {counts['voc']} from VOC, {counts['sbd']} from SBD; "
              f"train_aug.txt: {counts['train_aug']} ids")
    if args.check:
        report = prepare.check_root(args.check, args.lists, args.superpixel_dir, progress=True)
        print(prepare.format_report(report))
        if not prepare.report_ok(report):
            print("check: problems found", file=sys.stderr)
            return 1
        print("check: ok")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voc", help="VOC2012 root (JPEGImages, Annotations, SegmentationClass, ImageSets)")
    ap.add_argument("--sbd", help="SBD 'dataset' folder (cls/*.mat, train.txt, val.txt)")
    ap.add_argument("--check", metavar="ROOT", help="validate this dataset root and print a report")
    ap.add_argument("--lists", nargs="+", default=["train", "val", "train_aug"], help="lists to check")
    ap.add_argument("--superpixel-dir", default="superpixels", help="superpixel folder, relative to the root")
    args = ap.parse_args(argv)
    if not args.check and not (args.voc and args.sbd):
        ap.error("give --voc and --sbd to build, or --check ROOT")
    return run_main(body, args)
