"""The command line: one module per tool, each a ``main(argv=None) -> exit status``.

``tools/<name>.py`` and ``icd <name>`` (:mod:`icd_mx.cli`, also ``python -m icd_mx <name>``)
both call ``icd_mx.commands.<name>.main``, so a tool works the same from a checkout and from
an installed package. A command parses its arguments (:func:`stage_parser`: ``--config FILE``
and ``section.key=value`` overrides anywhere on the line), configures logging once
(:func:`icd_mx.engine.logger.setup_logging`) and runs one stage (:mod:`icd_mx.stages`)
under :func:`run_main`, which turns an :class:`~icd_mx.errors.InputError` into one line
``error: <file>: <problem>`` on stderr and exit status 2, and a refused write (disk full,
no permission, read-only file system) into ``error: <file>: <reason>`` and exit status 1
(docs/reliability.md, "Refusals").
"""
import argparse
import errno
import re
import sys

from ..errors import InputError

EXIT_INPUT, EXIT_SYSTEM, EXIT_INTERRUPTED = 2, 1, 130
# a config override: name=value or section.key=value (icd_mx.config.load_config)
OVERRIDE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*=")


def split_overrides(argv):
    """``(options, overrides)``: the ``section.key=value`` tokens of ``argv`` wherever they
    stand, apart from the rest (an option's value is never taken for one: it follows its
    option, and values that look like overrides are passed as ``--option=value``)."""
    argv = list(argv)
    rest, overrides = [], []
    for i, token in enumerate(argv):
        if token == "--":
            rest += argv[i:]
            break
        (overrides if OVERRIDE.match(token) else rest).append(token)
    return rest, overrides


class StageParser(argparse.ArgumentParser):
    """An argparse parser with ``--config FILE`` (repeatable) and ``section.key=value``
    overrides anywhere on the line (:func:`split_overrides`, in ``args.overrides``)."""

    def __init__(self, description, config_required=False, config_default=None):
        super().__init__(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
        self.add_argument("--config", required=config_required, default=config_default, action="append",
                          help="YAML config (configs/*.yaml); repeat to layer an ablation file on a base; "
                               "without it, the release's defaults")
        self.add_argument("overrides", nargs="*", metavar="section.key=value",
                          help="config overrides anywhere on the line, e.g. train.lr=0.01 train.gpus=[0,1]")

    def parse_args(self, args=None, namespace=None):
        rest, overrides = split_overrides(sys.argv[1:] if args is None else args)
        ns = super().parse_args(rest, namespace)
        ns.overrides = overrides + list(ns.overrides or [])
        return ns


def stage_parser(doc, config_required=False, config_default=None):
    """A :class:`StageParser` described by a command's docstring (its first line as the
    summary, the rest as the usage)."""
    return StageParser(doc.strip(), config_required, config_default)


def load_stage_config(args):
    """Load ``args.config`` with ``args.overrides``; set OMP threads before MXNet loads, and
    configure logging (console) for the process."""
    from ..config import load_config
    from ..engine.logger import setup_logging
    from ..io import set_num_threads

    cfg = load_config(args.config, args.overrides)
    set_num_threads(cfg.threads or None)
    setup_logging()
    return cfg


def run_main(fn, *args, **kwargs):
    """Run a command body; return its exit status (0 when it returns None).

    Bad input ends in one line on stderr and exit status 2, an ``OSError`` (disk full,
    permissions) in one line naming the file and status 1, a ``RuntimeError`` with an
    ``exit_code`` (a NaN loss) with that status. An unfinished progress bar is closed
    first, so the ``error:`` line starts a line of its own."""
    try:
        code = fn(*args, **kwargs)
        return 0 if code is None else code
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


def training_command(doc, stage, done, argv=None):
    """The training commands (pretrain, train, train_seg): ``--no-resume``, then
    ``icd_mx.stages.<stage>.run(cfg, resume)`` and the line ``done(cfg, result)``. The stage
    is imported once the config set the threads (before MXNet loads)."""
    import importlib

    parser = stage_parser(doc)
    parser.add_argument("--no-resume", action="store_true", help="start over even if checkpoints exist")

    def body(args):
        cfg = load_stage_config(args)
        result = importlib.import_module(f"icd_mx.stages.{stage}").run(cfg, resume=not args.no_resume)
        print(done(cfg, result))

    return run_main(body, parser.parse_args(argv))
