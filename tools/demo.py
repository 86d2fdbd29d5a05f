#!/usr/bin/env python
"""The CPU demo (`make demo`): generate the mini-VOC, pre-train the backbone on generated parts
(the ImageNet stand-in), superpixels, train a CPU-sized ICD, export scores, make CAM-baseline and
ICD seeds (BU, BU+refine, TD, TD+CRF), evaluate them, and write summary.json, summary.md and
previews.png to the output folder. Resumable.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icd_mx.cli import run_main  # noqa: E402
from icd_mx.io import set_num_threads  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", default="configs/synthetic_demo.yaml")
    parser.add_argument("--out", default="demo", help="output folder")
    parser.add_argument("--classes", type=int, default=6, help="VOC classes the generated set uses")
    parser.add_argument("--train", type=int, default=240, help="generated train_aug images")
    parser.add_argument("--val", type=int, default=60, help="generated val images")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value")
    args = parser.parse_args(argv)
    set_num_threads()
    from icd_mx.demo import render_markdown, run_demo

    summary = run_demo(args.config, args.out, args.classes, args.train, args.val, overrides=args.overrides)
    print(render_markdown(summary))
    print(f"results in {args.out}/ (summary.json, summary.md, previews.png)")


if __name__ == "__main__":
    run_main(main)
