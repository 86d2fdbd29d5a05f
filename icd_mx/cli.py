"""The ``icd <stage> [args]`` entry point (also ``python -m icd_mx <stage>``).

It runs ``icd_mx.commands.<stage>.main`` with the remaining arguments, the same code
``tools/<stage>.py`` runs, so it works from an installed package without the source
checkout. ``icd doctor`` checks the machine (:mod:`icd_mx.env`).
"""
import importlib
import sys

STAGES = ("make_synthetic", "prepare_voc", "superpixels", "pretrain", "train", "infer", "seeds", "evaluate",
          "train_seg", "test_seg", "reproduce", "export_symbols", "convert_vgg16", "demo", "compare_release",
          "launch_dist")


def main(argv=None):
    """``icd <stage> [args]``: run the stage's command; return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["doctor"]:  # the environment check (icd_mx/env.py)
        from .env import main as doctor

        return doctor(argv[1:])
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STAGES:
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print("usage: icd <stage> [--config FILE] [section.key=value ...]\nstages: " + ", ".join(STAGES)
              + "\nicd doctor: is this machine ready (Python, MXNet build, CUDA libraries, GPUs, dataset)?",
              file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    sys.argv = [f"icd {argv[0]}"] + argv[1:]
    return importlib.import_module(f"icd_mx.commands.{argv[0]}").main(argv[1:])
