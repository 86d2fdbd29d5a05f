"""The paper-table renderer: measured beside paper, 'not run' cells, tolerant record reading."""
import json
import os

from icd_mx import report


def _write(root, run, name, obj):
    os.makedirs(os.path.join(root, run, "eval"), exist_ok=True)
    with open(os.path.join(root, run, "eval", name + ".json"), "w") as f:
        json.dump(obj, f)


def test_empty_runs_render_not_run_everywhere(tmp_path):
    md = report.render(str(tmp_path))
    for n in range(1, 9):
        assert f"### Table {n}:" in md
    assert "| CAM | 46.3 | not run |" in md
    assert "| ICD seeds | 61.2 | not run | 60.9 | not run |" in md
    # no measured number anywhere: every "(ours)" cell is "not run"
    for line in md.splitlines():
        if line.startswith("| ") and "---" not in line and "method" not in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            assert all(c == report.NOT_RUN for c in cells[2::2]), line


def test_measured_beside_paper_with_commands(tmp_path):
    root = str(tmp_path)
    sweep = {"0.0": {"miou": 58.0, "recall": 80.0}, "0.1": {"miou": 64.0, "recall": 77.0}}
    _write(root, "icd", "scores_icd_td", {"map": 55.55, "sweep": sweep})
    _write(root, "icd", "seeds_raw", {"miou": 57.25})
    _write(root, "icd", "seeds_crf", {"miou": 60.0, "command": "python tools/evaluate.py --run runs/icd"})
    _write(root, "seg_vgg16", "seg_val", {"miou": 50.0, "command": "X"})  # as the prediction stage writes it
    with open(os.path.join(root, "icd", "commands.txt"), "w") as f:
        f.write("python tools/train.py a=1\npython tools/evaluate.py --run runs/icd --scores icd_td\n")
    md = report.render(root, note="mini-VOC")
    assert "| ICD | 57.0 | 55.5 [1] |" in md
    assert "[1] `python tools/evaluate.py --run runs/icd --scores icd_td`" in md
    assert "| 59.5/83.5 | 58.0/80.0 [1] | 65.3/78.8 | 64.0/77.0 [1] | 72.1/65.2 | not run |" in md
    assert "| + top-down (TD) | 59.9 | 57.2 [" in md  # 57.25 rounds half-even-ish to one decimal
    # a composite cell with one part missing is "not run", never half a number
    assert "| c | 59.9/62.2 | 57.2/60.0 [" in md
    assert "| conv5 | 49.9/56.7 | not run |" in md
    assert "| ICD seeds | 61.2 | 50.0 [1] | 60.9 | not run |" in md
    assert "mini-VOC" in md


def test_run_dir_mapping_and_bad_records(tmp_path):
    root = str(tmp_path)
    _write(root, "mini_cam", "scores_cam", {"map": 40.0})
    os.makedirs(os.path.join(root, "icd", "eval"))
    with open(os.path.join(root, "icd", "eval", "scores_icd_td.json"), "w") as f:
        f.write("{truncated")
    _write(root, "bu_abs", "seeds_crf", {"miou": "n/a"})
    md = report.render(root, run_dirs={"cam": "mini_cam"})
    assert "| CAM | 46.3 | 40.0 |" in md
    assert "| ICD | 57.0 | not run |" in md
    assert "| L_abs | 58.3 | not run |" in md
    assert report.run_keys()[:2] == ["cam", "icd"]


def test_minivoc_plan_covers_every_table_and_parses(tmp_path):
    from icd_mx import pipeline as mod
    from icd_mx.config import load_config

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    steps = mod.minivoc_plan(str(tmp_path / "runs"))
    keys = {k for k, _ in steps if k}
    assert set(report.run_keys()) <= keys  # every table, the saliency rows and test columns included
    for _, argv in steps:
        if "--config" not in argv and not any("=" in a and a.startswith("seg.") for a in argv):
            continue
        cfgs = [os.path.join(root, argv[i + 1]) for i, a in enumerate(argv) if a == "--config"]
        over = [a for a in argv[4:] if "=" in a and not a.startswith("-")]
        load_config(cfgs or None, over)  # every override names a real, valid key
    assert mod.run_plan(steps[:1], str(tmp_path), 0, dry_run=True) == []


def test_present_mean_with_fallback(tmp_path):
    root = str(tmp_path)
    sweep = {"0.0": {"miou": 20.0, "miou_present": 70.0, "recall": 80.0}}
    _write(root, "icd", "scores_icd_td", {"map": 55.0, "sweep": sweep})
    _write(root, "icd", "seeds_raw", {"miou": 15.0, "miou_present": 61.25})
    _write(root, "icd", "seeds_crf", {"miou": 16.0})  # an older record: no miou_present
    _write(root, "seg_vgg16", "seg_val", {"miou": 10.0, "miou_present": 50.0})
    default = report.render(root)
    assert "| + top-down (TD) | 59.9 | 15.0 |" in default
    assert "| 59.5/83.5 | 20.0/80.0 |" in default
    assert "21 classes (`miou`)" in default and "(ours, mIoU over present)" not in default
    md = report.render(root, present=True)
    assert "| + top-down (TD) | 59.9 | 61.2 |" in md
    assert "| + CRF | 62.2 | 16.0 |" in md  # falls back to miou
    assert "| c | 59.9/62.2 | 61.2/16.0 |" in md
    assert "| 59.5/83.5 | 70.0/80.0 |" in md  # sweep entries: miou_present, recall unchanged
    assert "| ICD | 57.0 | 55.0 |" in md  # mAP is not an mIoU
    assert "| ICD seeds | 61.2 | 50.0 |" in md
    assert "present in the ground truth" in md
    assert "T=0 mIoU/recall (ours, mIoU over present)" in md
    assert "| mAP (paper) | mAP (ours) |" in md
