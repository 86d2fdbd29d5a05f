"""The CPU demo (`make demo`): generate the mini-VOC, pre-train the backbone on generated parts
(the ImageNet stand-in), superpixels, train a CPU-sized ICD, export scores, make CAM-baseline and
ICD seeds (BU, BU+refine, TD, TD+CRF), evaluate them, and write summary.json, summary.md and
previews.png to the output folder. Resumable.
"""
from . import run_main, stage_parser


def body(args):
    from ..io import set_num_threads

    set_num_threads()
    from ..demo import render_markdown
    from ..pipeline import run_demo

    summary = run_demo(args.config, args.out, args.classes, args.train, args.val, overrides=args.overrides)
    print(render_markdown(summary))
    print(f"results in {args.out}/ (summary.json, summary.md, previews.png)")


def main(argv=None):
    parser = stage_parser(__doc__, config_default=None)
    parser.add_argument("--out", default="demo", help="output folder")
    parser.add_argument("--classes", type=int, default=6, help="VOC classes the generated set uses")
    parser.add_argument("--train", type=int, default=240, help="generated train_aug images")
    parser.add_argument("--val", type=int, default=60, help="generated val images")
    args = parser.parse_args(argv)
    args.config = args.config or ["configs/synthetic_demo.yaml"]
    return run_main(body, args)
