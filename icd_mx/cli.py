"""Shared command-line plumbing of the stage tools, and the ``icd <stage>`` entry point.

Every tool in ``tools/`` is thin: it builds its parser with :func:`stage_parser`,
loads the config with :func:`load_stage_config` and runs its body under
:func:`run_main`, which turns an :class:`~icd_mx.errors.InputError` into one line
``error: <file>: <problem>`` on stderr and exit status 2, and a refused write (disk
full, no permission, read-only file system) into ``error: <file>: <reason>`` and exit
status 1 (docs/reliability.md, "Refusals").
"""
import argparse
import errno
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


EXIT_INPUT, EXIT_SYSTEM, EXIT_INTERRUPTED = 2, 1, 130


def run_main(fn, *args, **kwargs):
    """Run a tool body; bad input ends in one line on stderr and exit status 2, an
    ``OSError`` (disk full, permissions) in one line naming the file and status 1, a
    ``RuntimeError`` with an ``exit_code`` (a NaN loss) with that status. An unfinished
    progress bar is closed first, so the ``error:`` line starts a line of its own."""
    try:
        return fn(*args, **kwargs)
    except InputError as e:
        _fail(f"error: {e}", EXIT_INPUT)
    except OSError as e:
        _fail(f"error: {os_error_text(e)}", EXIT_SYSTEM)
    except RuntimeError as e:
        if not hasattr(e, "exit_code"):  # e.g. engine.trainer.NonFiniteLossError
            raise
        _fail(f"error: {e}", e.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted: rerun the same command to continue", EXIT_INTERRUPTED)


def os_error_text(e):
    """``<file>: <reason>`` of an OSError, in one line."""
    path = e.filename if e.filename is not None else "(file not named by the system)"
    reason = e.strerror or str(e)
    hint = {errno.ENOSPC: "; free some space and rerun: finished files are kept",
            errno.EDQUOT: "; free some space and rerun: finished files are kept",
            errno.EFBIG: "; raise the file size limit (ulimit -f) and rerun",
            errno.EROFS: "; give a writable run_dir", errno.EACCES: "", errno.EPERM: ""}.get(e.errno, "")
    return f"{path}: {reason}{hint}".replace("\n", " ")


def _fail(line, code):
    _close_progress_bars()
    print(line, file=sys.stderr)
    sys.exit(code)


def _close_progress_bars():
    """Close every open tqdm bar, so what is printed next starts on a line of its own."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        try:
            bar.close()
        except Exception:  # a half-built bar: nothing to close
            pass


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
