"""The paper's Tables 1-8 as markdown: every measured number beside the paper's.

Measured numbers come from evaluation records, ``<runs_root>/<run>/eval/<name>.json``,
as the evaluation and prediction stages write them (:mod:`icd_mx.stages.evaluate`,
:mod:`icd_mx.stages.test_seg`, both through :mod:`icd_mx.metrics`):

- a value is found by a ``/``-separated key path (``miou``, ``map``, ``sweep@0.1/recall``);
  a path part ``sweep@0.1`` picks the key of the mapping ``sweep`` whose threshold is 0.1
  (``"0.1"``);
- numbers are percentages;
- ``command`` (optional): the command line that produced the record; otherwise the
  last line of ``<runs_root>/<run>/commands.txt`` (written by the reproduction's plan,
  :func:`icd_mx.pipeline.run_plan`);
- ``miou_present`` (beside ``miou``, also in sweep entries): the mean IoU over the labels
  present in the ground truth. ``render(..., present=True)`` shows it wherever a cell
  reads ``miou`` (a record without it falls back to ``miou``); on VOC the two are equal,
  on the few-class mini-VOC only the present mean is meaningful.

A cell whose record or key is missing shows ``not run``, never a number. Paper numbers
are the headline table of docs/method.md.
"""
import json
import os
from collections import namedtuple

Source = namedtuple("Source", "run name key")
Cell = namedtuple("Cell", "paper sources")
Row = namedtuple("Row", "label cells")
Table = namedtuple("Table", "title columns rows")

NOT_RUN = "not run"
THRESHOLDS = (0.0, 0.1, 0.3, 0.5)


def _seed(run, variant):
    return Source(run, f"seeds_{variant}", "miou")


def _pair(paper, run, first, second):
    return Cell(paper, (_seed(run, first), _seed(run, second)))


def _sweep(paper, run, kind, t):
    return Cell(paper, (Source(run, f"scores_{kind}", f"sweep@{t:g}/miou"),
                        Source(run, f"scores_{kind}", f"sweep@{t:g}/recall")))


def _seg(paper_val, paper_test, run):
    return [Cell(paper_val, (Source(run, "seg_val", "miou"),)), Cell(paper_test, (Source(run, "seg_test", "miou"),))]


def paper_tables():
    """The eight tables: titles, columns and, per cell, the paper's number and its sources.

    Run keys (``cam``, ``icd``, ``bu_abs``, ...) name run folders; :func:`render` maps them
    through ``run_dirs``.
    """
    sweep_cols = [f"T={t:g} mIoU/recall" for t in THRESHOLDS]
    cam_sweep = ("35.1/59.7", "53.6/37.5", "62.9/15.1", "68.5/6.5")
    icd_sweep = ("59.5/83.5", "65.3/78.8", "72.1/65.2", "75.2/43.8")
    return [
        Table("Table 1: score-map mAP (train)", ["mAP"], [
            Row("CAM", [Cell("46.3", (Source("cam", "scores_cam", "map"),))]),
            Row("ICD", [Cell("57.0", (Source("icd", "scores_icd_td", "map"),))])]),
        Table("Table 2: seeds mIoU / recall at threshold T (train)", sweep_cols, [
            Row("CAM", [_sweep(p, "cam", "cam", t) for p, t in zip(cam_sweep, THRESHOLDS)]),
            Row("ICD", [_sweep(p, "icd", "icd_td", t) for p, t in zip(icd_sweep, THRESHOLDS)])]),
        Table("Table 3: seed mIoU, component ablation (train)", ["mIoU"], [
            Row("bottom-up (BU)", [Cell("49.9", (_seed("icd", "icd_bu_raw"),))]),
            Row("+ superpixel refinement", [Cell("54.0", (_seed("icd", "icd_bu_sp_raw"),))]),
            Row("+ top-down (TD)", [Cell("59.9", (_seed("icd", "raw"),))]),
            Row("+ CRF", [Cell("62.2", (_seed("icd", "crf"),))])]),
        Table("Table 4: bottom-up loss (seed mIoU, train)", ["mIoU"], [
            Row("L_bu", [Cell("62.2", (_seed("icd", "crf"),))]),
            Row("L_abs", [Cell("58.3", (_seed("bu_abs", "crf"),))]),
            Row("L_sig", [Cell("52.9", (_seed("bu_sig", "crf"),))])]),
        Table("Table 5: bottom-up features (BU seed mIoU w/o / w CRF, train)", ["mIoU w/o / w CRF"], [
            Row(name, [_pair(paper, run, "icd_bu_raw", "icd_bu_crf")])
            for name, paper, run in (("conv4", "43.8/47.0", "feat_conv4"), ("conv5", "49.9/56.7", "icd"),
                                     ("fc6", "40.0/42.4", "feat_fc6"), ("concat", "41.3/44.1", "feat_concat"))]),
        Table("Table 6: top-down structures (seed mIoU w/o / w CRF, train)", ["mIoU w/o / w CRF"], [
            Row(name, [_pair(paper, run, "raw", "crf")])
            for name, paper, run in (("a", "50.4/42.9", "td_a"), ("b", "57.2/58.8", "td_b"),
                                     ("c", "59.9/62.2", "icd"), ("d", "59.2/62.0", "td_d"))]),
        Table("Table 7: DeepLab-LargeFOV VGG16 on seeds (mIoU)", ["val", "test"], [
            Row("ICD seeds", _seg("61.2", "60.9", "seg_vgg16")),
            Row("ICD + saliency seeds", _seg("64.0", "63.9", "seg_vgg16_sal")),
            Row("CAM seeds (baseline)", _seg("-", "-", "seg_vgg16_cam"))]),
        Table("Table 8: DeepLab-LargeFOV ResNet-101 on seeds (mIoU)", ["val", "test"], [
            Row("ICD seeds", _seg("64.1", "64.3", "seg_r101")),
            Row("ICD + saliency seeds", _seg("67.8", "68.0", "seg_r101_sal"))]),
    ]


def _lookup(record, path):
    node = record
    for part in path.split("/"):
        name, _, sel = part.partition("@")
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
        if sel:
            node = _select(node, float(sel))
            if node is None:
                return None
    return node


def _number(value):
    """``value`` if it is a real number (not a bool), else None."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _select(node, t):
    """The entry of a sweep ``{"0.1": {...}}`` at threshold ``t``."""
    for key, value in (node.items() if isinstance(node, dict) else ()):
        try:
            if abs(float(key) - t) < 1e-9:
                return value
        except ValueError:
            continue
    return None


class Results:
    """Evaluation records of the runs under ``runs_root``.

    Parameters
    ----------
    runs_root : str
        Folder of run folders.
    run_dirs : dict, optional
        Run key -> folder name under ``runs_root`` (default: the key itself).
    present : bool
        Read ``miou_present`` wherever a source's key ends in ``miou`` (falling back
        to ``miou`` when a record lacks it).
    """

    def __init__(self, runs_root, run_dirs=None, present=False):
        self.root, self.run_dirs, self._cache = runs_root, dict(run_dirs or {}), {}
        self.present = present

    def run_dir(self, run):
        return os.path.join(self.root, self.run_dirs.get(run, run))

    def record(self, run, name):
        """The parsed ``eval/<name>.json`` of a run, or None (missing or unreadable)."""
        key = (run, name)
        if key not in self._cache:
            path = os.path.join(self.run_dir(run), "eval", name + ".json")
            try:
                with open(path) as f:
                    self._cache[key] = json.load(f)
            except (OSError, ValueError):
                self._cache[key] = None
        return self._cache[key]

    def value(self, source):
        """The measured number of a source in percent, or None."""
        record = self.record(source.run, source.name)
        if not isinstance(record, dict):
            return None
        value = None
        if self.present and source.key.split("/")[-1] == "miou":
            value = _number(_lookup(record, source.key + "_present"))
        if value is None:
            value = _number(_lookup(record, source.key))
        return None if value is None else float(value)

    def command(self, source):
        """The command behind a source's record (its ``command``, or the run's commands.txt)."""
        record = self.record(source.run, source.name) or {}
        if isinstance(record, dict) and record.get("command"):
            return str(record["command"])
        try:
            with open(os.path.join(self.run_dir(source.run), "commands.txt")) as f:
                lines = [line.strip() for line in f if line.strip()]
            return lines[-1] if lines else None
        except OSError:
            return None


def measured(results, cell):
    """``"59.5/83.5"``-style text of a cell, or ``not run`` if any part is missing."""
    values = [results.value(s) for s in cell.sources]
    if any(v is None for v in values):
        return NOT_RUN
    return "/".join(f"{v:.1f}" for v in values)


def render_table(table, results):
    """One table as markdown: ``paper`` and ``ours`` per column, commands as footnotes.

    With ``results.present`` the "(ours)" headers of mIoU columns say ``mIoU over present``.
    """
    def ours(column):
        return "(ours, mIoU over present)" if results.present and "mIoU" in column else "(ours)"

    head = ["method"] + [f"{c} {who}" for c in table.columns for who in ("(paper)", ours(c))]
    lines = [f"### {table.title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes = []
    for row in table.rows:
        cells = [row.label]
        for cell in row.cells:
            text = measured(results, cell)
            if text != NOT_RUN:
                cmds = [c for c in (results.command(s) for s in cell.sources) if c]
                for cmd in dict.fromkeys(cmds):
                    if cmd not in notes:
                        notes.append(cmd)
                marks = sorted({notes.index(c) + 1 for c in cmds})
                text += "".join(f" [{m}]" for m in marks)
            cells += [cell.paper, text]
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += [""] + [f"[{i}] `{cmd}`" for i, cmd in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def render(runs_root, run_dirs=None, title="ICD: the paper's tables, measured", note="", present=False):
    """All eight tables as one markdown document.

    Parameters
    ----------
    runs_root : str
        Folder of run folders (``runs``).
    run_dirs : dict, optional
        Run key -> folder name (see :func:`paper_tables` for the keys).
    title, note : str
        Document heading and a paragraph under it (e.g. the data set and scale).
    present : bool
        Show the mean IoU over the classes present in the ground truth
        (``miou_present``, falling back to ``miou`` per record) instead of the release's
        21-class mean: for data with few classes (the mini-VOC). The intro and the
        mIoU column headers say which mean is shown.

    Returns
    -------
    str
    """
    results = Results(runs_root, run_dirs, present)
    parts = [f"# {title}", ""]
    if note:
        parts += [note, ""]
    parts.append(f"Paper numbers: CVPR 2020 (docs/method.md). `{NOT_RUN}`: no evaluation record found.")
    if present:
        parts.append("Measured mIoU: the mean over the classes present in the ground truth (`miou_present`; "
                     "a record without it shows the 21-class mean); the paper's are 21-class means on VOC, "
                     "where the two are equal.")
    else:
        parts.append("Measured mIoU: the release's mean over all 21 classes (`miou`).")
    parts.append("")
    for table in paper_tables():
        parts.append(render_table(table, results))
    return "\n".join(parts)


def run_keys():
    """Every run key the tables read, in order of first use."""
    keys = []
    for table in paper_tables():
        for row in table.rows:
            for cell in row.cells:
                for s in cell.sources:
                    if s.run not in keys:
                        keys.append(s.run)
    return keys
