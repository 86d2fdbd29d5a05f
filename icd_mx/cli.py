"""Shared command-line plumbing of the stage tools, and the ``icd <stage>`` entry point.

Every tool in ``tools/`` is thin: it builds its parser with :func:`stage_parser`,
loads the config with :func:`load_stage_config` and runs its body under
:func:`run_main`, which turns an :class:`~icd_mx.errors.InputError` into one line
``error: <file>: <problem>`` on stderr and exit status 2.
"""
import argparse
import os
import runpy
import sys

from .errors import InputError
from .io import set_num_threads

TOOLS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
STAGES = ("make_synthetic", "prepare_voc", "superpixels", "pretrain", "train", "infer", "seeds", "evaluate",
          "train_seg", "test_seg", "reproduce", "export_symbols", "convert_vgg16", "demo", "compare_release")


def stage_parser(description, config_required=False):
    """An argparse parser with ``--config FILE`` and trailing ``section.key=value`` overrides."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", required=config_required, default=None, action="append",
                        help="YAML config (configs/*.yaml); repeat to layer an ablation file on a base; "
                             "without it, the release's defaults")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="config overrides, e.g. train.lr=0.01 train.gpus=[0,1]")
    return parser


def load_stage_config(args):
    """Load ``args.config`` with ``args.overrides``; set OMP threads before MXNet loads."""
    from .config import load_config

    cfg = load_config(args.config, args.overrides)
    set_num_threads(cfg.threads or None)
    return cfg


def save_run_config(cfg, stage):
    """Keep the resolved config in the run folder (``<run>/config_<stage>.yaml``)."""
    from .config import save_config

    path = os.path.join(cfg.out_dir, f"config_{stage}.yaml")
    save_config(cfg, path)
    return path


def run_main(fn, *args, **kwargs):
    """Run a tool body; bad input ends in one line on stderr and exit status 2 (a
    ``RuntimeError`` with an ``exit_code``, such as a NaN loss, with that status)."""
    try:
        return fn(*args, **kwargs)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except RuntimeError as e:
        if not hasattr(e, "exit_code"):  # e.g. engine.trainer.NonFiniteLossError
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to continue", file=sys.stderr)
        sys.exit(130)


def main(argv=None):
    """``icd <stage> [args]``: run ``tools/<stage>.py`` with the remaining arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["doctor"]:  # the environment check (icd_mx/env.py), no tool script
        from .env import main as doctor

        return doctor(argv[1:])
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STAGES:
        print("usage: icd <stage> [--config FILE] [section.key=value ...]\nstages: " + ", ".join(STAGES)
              + "\nicd doctor: is this machine ready (Python, MXNet build, CUDA libraries, GPUs, dataset)?",
              file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    script = os.path.join(TOOLS_DIR, argv[0] + ".py")
    if not os.path.isfile(script):
        print(f"error: {script}: stage script not found (icd needs the source checkout)", file=sys.stderr)
        return 2
    sys.argv = [script] + argv[1:]
    runpy.run_path(script, run_name="__main__")
    return 0
