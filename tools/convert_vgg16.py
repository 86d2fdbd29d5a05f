#!/usr/bin/env python
"""Convert gluoncv's ImageNet VGG16 (vgg16-e660d456.params) into DeepLab's "VGG16 20M"
init (fc6/fc7 decimated as icd-reference.md "Optimisation" says), in the release's format.

    python tools/convert_vgg16.py ~/.mxnet/models/vgg16-e660d456.params models/vgg16_20M.params
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from icd_mx.cli import run_main  # noqa: E402
from icd_mx.io import set_num_threads  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="gluoncv vgg16 .params file")
    parser.add_argument("dst", help="output 20M init (.params, arg:conv1_1_weight ... arg:fc7_bias)")
    parser.add_argument("--keep-input", action="store_true",
                        help="keep conv1_1 as is (gluoncv's normalised input) instead of adapting it "
                             "to the release's 0..255 - 127 input")
    args = parser.parse_args(argv)
    set_num_threads()
    from icd_mx.compat.vgg20m import convert_file

    names = convert_file(args.src, args.dst, adapt_input=not args.keep_input)
    print(f"wrote {args.dst}: {len(names)} arrays")


if __name__ == "__main__":
    run_main(main)
