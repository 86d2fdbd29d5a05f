"""Convert gluoncv's ImageNet VGG16 (vgg16-e660d456.params) into DeepLab's "VGG16 20M"
init (fc6/fc7 decimated as docs/method.md "Optimisation" says), in the release's format.

    python tools/convert_vgg16.py ~/.mxnet/models/vgg16-e660d456.params models/vgg16_20M.params
"""
import argparse

from . import run_main


def body(args):
    from ..io import set_num_threads

    set_num_threads()
    from ..compat.vgg20m import convert_file

    names = convert_file(args.src, args.dst, adapt_input=not args.keep_input)
    print(f"wrote {args.dst}: {len(names)} arrays")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="gluoncv vgg16 .params file")
    parser.add_argument("dst", help="output 20M init (.params, arg:conv1_1_weight ... arg:fc7_bias)")
    parser.add_argument("--keep-input", action="store_true",
                        help="keep conv1_1 as is (gluoncv's normalised input) instead of adapting it "
                             "to the release's 0..255 - 127 input")
    return run_main(body, parser.parse_args(argv))
