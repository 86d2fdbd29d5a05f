"""tools/reproduce.py: the VOC plan is the mini-VOC plan on the VOC configs, run folders the
report reads, --dry-run, budget and resume (docs/gpu.md, README "PASCAL VOC 2012")."""
import os
import sys

import pytest

from icd_mx import report
from icd_mx.config import load_config
from icd_mx.pipeline import stage_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def rep():
    """The plans (icd_mx.pipeline) and the command's main (icd_mx.commands.reproduce)."""
    from types import SimpleNamespace

    from icd_mx import pipeline
    from icd_mx.commands import reproduce

    return SimpleNamespace(**vars(pipeline), main=reproduce.main)


def _shape(steps):
    """Per run key: the tools it runs and the seed variants it asks for."""
    out = {}
    for key, argv in steps:
        if key:
            tool = stage_of(argv)
            variants = [a for a in argv if a.startswith("seeds.variants=") or a.startswith("seg.split=")]
            out.setdefault(key, []).append((tool, variants))
    return out


def test_voc_plan_is_the_minivoc_plan_on_the_voc_configs(rep, tmp_path):
    voc = rep.voc_plan("runs", gpus=[0, 1])
    mini = rep.minivoc_plan(str(tmp_path))
    assert _shape(voc) == _shape(mini)
    assert set(report.run_keys()) <= set(_shape(voc))  # every table's runs
    dirs = rep.voc_run_dirs()
    assert dirs["icd"] == "voc_vgg16_icd" and dirs["cam"] == "voc_vgg16_cam"
    assert dirs["bu_abs"] == "voc_vgg16_icd_bu_abs" and dirs["seg_r101_sal"] == "voc_deeplab_r101_sal"
    assert len(set(dirs.values())) == len(dirs)
    for key, argv in voc:
        cfgs = [os.path.join(ROOT, argv[i + 1]) for i, a in enumerate(argv) if a == "--config"]
        over = [a for a in argv[4:] if "=" in a and not a.startswith("-")]
        cfg = load_config(cfgs, over)  # every config exists and every override is a valid key
        assert cfg.train.gpus == [0, 1]
        if key:
            assert cfg.out_dir == os.path.join("runs", dirs[key])
        if key == "seg_vgg16_cam":
            assert cfg.seg.seeds == os.path.join("runs", "voc_vgg16_cam", "seeds", "cam_thr")
        if key == "cam":
            assert cfg.model.mode == "cam" and cfg.data.root == "data/VOC2012"
    seg_cfg = load_config(os.path.join(ROOT, "configs", "voc_deeplab_vgg16.yaml"))
    assert seg_cfg.seg.seeds == os.path.join("runs", dirs["icd"], "seeds", "crf")  # the walkthrough's folder


def test_dry_run_prints_every_command(rep, capsys):
    rep.main(["--voc", "--dry-run", "--root", "/data/VOC2012"])
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert len(lines) == len(rep.voc_plan("runs")) and lines[0].startswith("python -m icd_mx superpixels")
    assert all("data.root=/data/VOC2012" in line for line in lines)
    assert "cam=voc_vgg16_cam" in out.err


def test_run_plan_budget_failure_and_resume(rep, tmp_path):
    runs = str(tmp_path)
    mark = str(tmp_path / "mark")
    py = [sys.executable, "-c"]
    steps = [("a", py + [f"open({mark!r}, 'a').write('a')"]), ("b", py + ["raise SystemExit(3)"]),
             ("b", py + [f"open({mark!r}, 'a').write('b')"]), ("c", py + [f"open({mark!r}, 'a').write('c')"])]
    dirs = {"a": "run_a", "b": "run_b", "c": "run_c"}
    log = rep.run_plan(steps, runs, 3600, run_dirs=dirs)
    assert [s for _, s, _ in log] == ["ok", "exit 3", "skipped (an earlier step of this run failed)", "ok"]
    assert open(mark).read() == "ac"
    assert os.path.isfile(os.path.join(runs, "run_a", "commands.txt"))  # where the report reads commands
    again = rep.run_plan(steps, runs, 3600, run_dirs=dirs)  # resume: done steps are not run again
    assert [s for _, s, _ in again][0] == "ok (done before)" and open(mark).read() == "ac"
    assert [s for _, s, _ in rep.run_plan(steps[:1], runs, 3600, resume=False)] == ["ok"]
    assert open(mark).read() == "aca"
    assert [s for _, s, _ in rep.run_plan(steps[3:], runs, -1, resume=False)] == ["skipped (budget spent)"]


def test_rendering_reads_the_voc_folders_by_default(rep, tmp_path):
    os.makedirs(tmp_path / "voc_vgg16_icd")
    os.makedirs(tmp_path / "cam")  # a hand-named run: found under its key
    dirs = rep.default_run_dirs(str(tmp_path))
    assert dirs["icd"] == "voc_vgg16_icd" and dirs["cam"] == "cam" and dirs["td_a"] == "voc_vgg16_icd_td_a"
