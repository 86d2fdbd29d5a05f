"""Logging: the process's console and the run folder's logs.

One logging path (docs/architecture.md, "Logging"): every module logs to Python's
``logging`` under the ``icd_mx`` logger; :func:`setup_logging` (called once per process by
the commands) prints those lines on the console (stderr, through ``tqdm.write`` so that a
line never breaks an open progress bar), and :func:`run_log` (held by ``engine.trainer.fit``
on rank 0) also appends them, timestamped, to the run's ``log.txt``. The epoch summaries
(losses, lr, img/s, ETA) are such lines.

A training run's files (:class:`RunLogger`):

- ``log.txt``: timestamped text lines (appended; a resumed run continues it);
- ``metrics.csv``: one row per log interval: ``epoch, iter, lr, loss, <task metrics>, img_s``;
- ``metrics.json``: per-epoch means and the run's state (rewritten each epoch);
- ``curve.png``: one panel per loss and metric against the iteration (matplotlib Agg), each epoch.

Rows of an epoch that was not checkpointed (a killed run) are dropped on resume, so
the CSV of a resumed run matches an uninterrupted one. Only rank 0 writes
(``enabled=False`` on other workers).
"""
import contextlib
import csv
import io
import logging
import os
import sys

from ..io import save_json, save_text

FIXED = ["epoch", "iter", "lr", "loss"]
LOGGER = "icd_mx"
run_logger = logging.getLogger("icd_mx.run")


class _Console(logging.Handler):
    """Lines on stderr through ``tqdm.write``: an open progress bar is redrawn below them."""

    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging never raises from the console
            self.handleError(record)


class _ConsoleFormat(logging.Formatter):
    def format(self, record):
        text = super().format(record)
        return text if record.levelno <= logging.INFO else f"{record.levelname.lower()}: {text}"


class _RunFile(logging.FileHandler):
    """``<run>/log.txt``; a refused write (a full disk) raises an OSError naming the file
    instead of a traceback on stderr (docs/reliability.md, "Refusals")."""

    def handleError(self, record):
        e = sys.exc_info()[1]
        if isinstance(e, OSError):
            raise OSError(e.errno, e.strerror or str(e), self.baseFilename) from None
        super().handleError(record)


def setup_logging(level=logging.INFO):
    """Print the ``icd_mx`` loggers' lines on the console; once per process (later calls do
    nothing). Warnings and errors read ``warning: ...`` / ``error: ...``."""
    log = logging.getLogger(LOGGER)
    if any(isinstance(h, _Console) for h in log.handlers):
        return log
    handler = _Console()
    handler.setFormatter(_ConsoleFormat("%(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    return log


@contextlib.contextmanager
def run_log(run_dir):
    """Also append the ``icd_mx`` loggers' lines to ``<run_dir>/log.txt`` (timestamped) while
    the block runs."""
    os.makedirs(run_dir, exist_ok=True)
    handler = _RunFile(os.path.join(run_dir, "log.txt"), mode="a", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
    log = logging.getLogger(LOGGER)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)
        handler.close()


class RunLogger:
    """Text, CSV, JSON and curve logs in ``run_dir``.

    Parameters
    ----------
    run_dir : str
    last_epoch : int
        The last checkpointed epoch (-1: none); CSV rows after it are dropped.
    enabled : bool
        False on workers other than rank 0: every method is a no-op.
    """

    def __init__(self, run_dir, last_epoch=-1, enabled=True):
        self.run_dir = run_dir
        self.enabled = enabled
        self.rows = []
        self.columns = list(FIXED)
        if not enabled:
            return
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, "metrics.csv")
        if os.path.exists(path):
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    if int(row["epoch"]) <= last_epoch:
                        self._add({k: _num(v) for k, v in row.items() if v != ""})

    def _add(self, row):
        for key in row:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append(row)

    def info(self, msg):
        """Log one line (the console and, under :func:`run_log`, ``log.txt``)."""
        if self.enabled:
            run_logger.info(msg)

    def row(self, values):
        """Add one metrics row and rewrite ``metrics.csv`` atomically."""
        if not self.enabled:
            return
        self._add(dict(values))
        buf = io.StringIO()
        cols = [c for c in self.columns if c != "img_s"] + ["img_s"]
        writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _fmt(v) for k, v in r.items()})
        save_text(os.path.join(self.run_dir, "metrics.csv"), buf.getvalue())

    def epoch_end(self, summary):
        """Write ``metrics.json`` (``summary``) and ``curve.png``."""
        if not self.enabled:
            return
        save_json(os.path.join(self.run_dir, "metrics.json"), summary)
        self.plot(os.path.join(self.run_dir, "curve.png"))

    def plot(self, path):
        """Write the training curve: one panel per loss and metric (:func:`icd_mx.viz.curve_figure`)."""
        if not self.rows:
            return
        import matplotlib.pyplot as plt

        from ..io import atomic_path
        from ..viz import curve_figure

        fig = curve_figure(self.rows, self.columns)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=80, format="png")
        plt.close(fig)


def _num(text):
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _fmt(value):
    return f"{value:.6g}" if isinstance(value, float) else value
