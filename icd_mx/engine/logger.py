"""Run-folder logs of a training run.

- ``log.txt``: timestamped text lines (appended; a resumed run continues it);
- ``metrics.csv``: one row per log interval: ``epoch, iter, lr, loss, <task metrics>, img_s``;
- ``metrics.json``: per-epoch means and the run's state (rewritten each epoch);
- ``curve.png``: one panel per loss and metric against the iteration (matplotlib Agg), each epoch.

Rows of an epoch that was not checkpointed (a killed run) are dropped on resume, so
the CSV of a resumed run matches an uninterrupted one. Only rank 0 writes
(``enabled=False`` on other workers).
"""
import csv
import io
import os
import time

from ..io import save_json, save_text

FIXED = ["epoch", "iter", "lr", "loss"]


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
        """Append a timestamped line to ``log.txt``."""
        if not self.enabled:
            return
        path = os.path.join(self.run_dir, "log.txt")
        try:
            with open(path, "a") as f:
                f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + msg + "\n")
        except OSError as e:  # a full disk names the log (docs/reliability.md)
            raise OSError(e.errno, e.strerror or str(e), path) from None

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
