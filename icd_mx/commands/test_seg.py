"""Predict with a trained DeepLab: multi-scale + flip, optional CRF; score val, write the test submission.

    python tools/test_seg.py --config configs/voc_deeplab_vgg16.yaml seg.split=val
    python tools/test_seg.py --config configs/voc_deeplab_vgg16.yaml seg.split=test seg.crf=true

Writes <run>/pred/<split>[_crf]/<id>.png, <run>/eval/seg_<split>[_crf].json (when ground
truth exists) and, for test, <run>/results/VOC2012/Segmentation/comp6_test_cls/<id>.png
packed into <run>/results.tar.gz. Rerunning continues where it stopped.
"""
import json
import shlex
import sys

from . import load_stage_config, run_main, stage_parser


def body(args, argv):
    cfg = load_stage_config(args)
    from ..stages import test_seg

    command = " ".join(shlex.quote(a) for a in ["python", "tools/test_seg.py"] + argv)
    record = test_seg.run(cfg, command, overwrite=args.overwrite)
    shown = {k: record.get(k) for k in ("split", "miou", "pixel_acc", "images", "predictions", "submission")
             if record.get(k) is not None}
    print(json.dumps(shown))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = stage_parser(__doc__)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace predictions made with another checkpoint or test settings")
    return run_main(body, parser.parse_args(argv), argv)
