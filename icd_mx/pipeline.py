#!/usr/bin/env python
"""Render the paper's Tables 1-8 from finished runs, or run them all on VOC or the mini-VOC first.

    python tools/reproduce.py --voc --dry-run                # print the VOC plan (every command)
    python tools/reproduce.py --voc --gpus 0,1               # run it (resumes; weeks on 2 GPUs: README)
    python tools/reproduce.py --runs runs --out report.md    # render finished VOC runs
    python tools/reproduce.py --minivoc --runs runs/minivoc --budget-min 60

Every measured cell sits beside the paper's number with the command that produced it;
cells whose evaluation record is missing read "not run" (icd_mx/report.py).

--voc and --minivoc run one plan (:func:`stage_steps`): the CAM baseline, ICD and its
ablations with the seed variants each table reads (Tables 1-6: train, infer, seeds,
evaluate), then DeepLab VGG16 and ResNet-101 on ICD, ICD+saliency and CAM seeds
(Tables 7-8: train_seg, test_seg). --voc takes the VOC configs (configs/voc_*.yaml, the
CAM baseline configs/voc_vgg16_cam.yaml) and writes runs/<config name> (runs/voc_vgg16_icd,
runs/voc_vgg16_icd_bu_abs...), the folders the walkthrough in the README writes and the
report reads by default; --minivoc generates a small synthetic VOC and runs at CPU scale.
Each command is appended to <run>/commands.txt; a step that succeeded is recorded in
<runs>/reproduce_done.txt and skipped by a rerun (--redo runs it again), and every tool
resumes its own partial work. Steps that would start after the budget is spent are
skipped (their cells: "not run").
"""
import argparse
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_CFG = "configs/synthetic_demo.yaml"  # the demo's CPU recipe (width 1/8, pre-trained stand-in init)
# run key -> ablation config layered on the base (paper Tables 4-6); None: the base
ICD_RUNS = {
    "cam": None, "icd": None, "bu_abs": "bu_loss_abs", "bu_sig": "bu_loss_sig", "feat_conv4": "bu_feature_conv4",
    "feat_fc6": "bu_feature_fc6", "feat_concat": "bu_feature_concat", "td_a": "td_structure_a",
    "td_b": "td_structure_b", "td_d": "td_structure_d",
}
# CPU scale, stated in the report: the demo's recipe with fewer epochs per run
MINI_ICD = ["train.epochs=12", "seeds.workers=2", "infer.split=train_aug", "data.saliency_dir=Saliency"]
MINI_SEG = ["seg.width=0.125", "seg.crop_size=113", "seg.batch_size=8", "seg.epochs=6", "seg.lr=0.001",
            "data.num_workers=0", "train.gpus=[]", "seg.test_scales=[0.75,1.0,1.25]"]
SEG_RUNS = {  # run key -> (backbone overrides, seed run, seed variant)
    "seg_vgg16": (["seg.backbone=vgg16"], "icd", "crf"),
    "seg_vgg16_sal": (["seg.backbone=vgg16"], "icd", "sal"),
    "seg_vgg16_cam": (["seg.backbone=vgg16"], "cam", "cam_thr"),
    "seg_r101": (["seg.backbone=resnet101", "seg.resnet_layers=[1,1,2,1]", "seg.init=", "seg.frozen_bn=false"],
                 "icd", "crf"),
    "seg_r101_sal": (["seg.backbone=resnet101", "seg.resnet_layers=[1,1,2,1]", "seg.init=", "seg.frozen_bn=false"],
                     "icd", "sal"),
}


def _tool(name, *args):
    return [sys.executable, os.path.join("tools", name + ".py"), *args]


def _config_name(path, default):
    """The ``name`` a config file gives its run (the run folder the VOC walkthrough writes)."""
    import yaml

    with open(os.path.join(ROOT, path)) as f:
        return (yaml.safe_load(f) or {}).get("name", default)


def seed_variants(key):
    """The seed variants a run's tables read (Tables 2-6; the saliency rows of Tables 7-8)."""
    return {"cam": "[cam_thr]", "icd": "[icd_bu:raw, icd_bu:crf, icd_bu_sp:raw, raw, crf, sal]"}.get(
        key, "[icd_bu:raw, icd_bu:crf, raw, crf]")


def stage_steps(runs, run_dirs, icd_cfgs, icd_over, seg_cfgs, seg_over):
    """Every run's stages, the same on the mini-VOC and on VOC: ``[(run key, argv)]``.

    ``run_dirs``: run key -> folder name under ``runs``; ``icd_cfgs(key)``: the config
    files of an ICD run; ``icd_over(key)``: its overrides; ``seg_cfgs(key)`` and
    ``seg_over(key)``: the same for a DeepLab run (:data:`SEG_RUNS`).
    """
    steps = []
    for key in ICD_RUNS:
        run_dir = os.path.join(runs, run_dirs[key])
        cfgs = [a for c in icd_cfgs(key) for a in ("--config", c)]
        over = icd_over(key) + [f"name={run_dirs[key]}", f"run_dir={run_dir}"] + (
            ["model.mode=cam"] if key == "cam" else [])
        steps += [(key, _tool("train", *cfgs, *over)), (key, _tool("infer", *cfgs, *over)),
                  (key, _tool("seeds", *cfgs, *over, f"seeds.variants={seed_variants(key)}", "--run", run_dir,
                              "--quiet")),
                  (key, _tool("evaluate", *cfgs, *over, "--run", run_dir, "--quiet"))]
    for key, (_, seed_run, variant) in SEG_RUNS.items():
        cfgs = [a for c in seg_cfgs(key) for a in ("--config", c)]
        over = seg_over(key) + [
            f"name={run_dirs[key]}", f"run_dir={os.path.join(runs, run_dirs[key])}",
            f"seg.seeds={os.path.join(runs, run_dirs[seed_run], 'seeds', variant)}"]
        steps += [(key, _tool("train_seg", *cfgs, *over))]
        steps += [(key, _tool("test_seg", *cfgs, *over, f"seg.split={split}")) for split in ("val", "test")]
    return steps


def minivoc_plan(runs, n_train=160, n_val=40, classes=6, n_test=40):
    """The ordered steps of the mini-VOC reproduction: ``[(run key or None, argv)]``.

    One generated set (with saliency maps and a scored test split), one pre-training
    (the ImageNet stand-in, shared by every ICD run and by the VGG16 DeepLab runs, as
    the 20M init is on VOC), superpixels, then each run's stages (:func:`stage_steps`).
    """
    data = os.path.join(runs, "data")
    init = os.path.join(runs, "pretrain", "pretrain", "init.params")
    steps = [(None, _tool("make_synthetic", data, "--train", str(n_train), "--val", str(n_val), "--test",
                          str(n_test), "--classes", str(classes), "--seed", "0"))]
    common = [f"data.root={data}", f"model.init={init}", f"superpixels.feature_params={init}"]
    steps.append((None, _tool("pretrain", "--config", BASE_CFG, *common, f"pretrain.classes={classes}",
                              f"run_dir={os.path.join(runs, 'pretrain')}")))
    steps.append((None, _tool("superpixels", "--config", BASE_CFG, *common, "--list", "train_aug", "--quiet")))
    return steps + stage_steps(
        runs, minivoc_run_dirs(),
        icd_cfgs=lambda key: [BASE_CFG] + ([f"configs/ablations/{ICD_RUNS[key]}.yaml"] if ICD_RUNS[key] else []),
        icd_over=lambda key: common + MINI_ICD,
        seg_cfgs=lambda key: [BASE_CFG],
        seg_over=lambda key: common + MINI_SEG + [f"seg.init={init}"] + SEG_RUNS[key][0])


def minivoc_run_dirs():
    """The mini-VOC's run folders: named by the run keys."""
    return {key: key for key in list(ICD_RUNS) + list(SEG_RUNS)}


# VOC: the configs of the walkthrough (README, "PASCAL VOC 2012"), full width and schedule
VOC_ICD_CFG, VOC_CAM_CFG = "configs/voc_vgg16_icd.yaml", "configs/voc_vgg16_cam.yaml"
VOC_SEG_CFG = {"vgg16": "configs/voc_deeplab_vgg16.yaml", "resnet101": "configs/voc_deeplab_r101.yaml"}
VOC_SEG_SUFFIX = {"seg_vgg16": "", "seg_vgg16_sal": "_sal", "seg_vgg16_cam": "_cam", "seg_r101": "",
                  "seg_r101_sal": "_sal"}


def _voc_icd_cfgs(key):
    if key == "cam":
        return [VOC_CAM_CFG]
    return [VOC_ICD_CFG] + ([f"configs/ablations/{ICD_RUNS[key]}.yaml"] if ICD_RUNS[key] else [])


def _backbone(key):
    return "resnet101" if key.startswith("seg_r101") else "vgg16"


def voc_run_dirs():
    """The VOC run folders: the names the VOC configs give their runs (``voc_vgg16_icd``,
    ``voc_vgg16_icd_bu_abs``, ``voc_deeplab_vgg16_sal``...), so the walkthrough's runs and
    the plan's are the same folders."""
    dirs = {key: _config_name(_voc_icd_cfgs(key)[-1], key) for key in ICD_RUNS}
    for key in SEG_RUNS:
        dirs[key] = _config_name(VOC_SEG_CFG[_backbone(key)], key) + VOC_SEG_SUFFIX[key]
    return dirs


def voc_plan(runs, root="", gpus=None, saliency="saliency"):
    """The ordered steps of the VOC reproduction: superpixels, then the same runs as
    :func:`minivoc_plan` on the VOC configs (``[(run key or None, argv)]``).

    ``root``: the dataset root (default: the configs' ``data.root``); ``gpus``: a list of
    GPU ids for every stage (default: the configs'); ``saliency``: the saliency folder
    under the root (the "I.+S." rows).
    """
    common = ([f"data.root={root}"] if root else []) + (
        [f"train.gpus=[{','.join(map(str, gpus))}]", f"superpixels.gpus=[{','.join(map(str, gpus))}]"]
        if gpus is not None else [])
    steps = [(None, _tool("superpixels", "--config", VOC_ICD_CFG, *common, "--list", "train_aug", "--quiet"))]
    return steps + stage_steps(
        runs, voc_run_dirs(), icd_cfgs=_voc_icd_cfgs,
        icd_over=lambda key: common + ([f"data.saliency_dir={saliency}"] if key == "icd" else []),
        seg_cfgs=lambda key: [VOC_SEG_CFG[_backbone(key)]],
        seg_over=lambda key: common)


def default_run_dirs(runs):
    """Run key -> folder for rendering finished runs: the VOC configs' names, or the
    key itself where only a folder of that name exists (a mini-VOC or hand-named run)."""
    out = {}
    for key, name in voc_run_dirs().items():
        if not os.path.isdir(os.path.join(runs, name)) and os.path.isdir(os.path.join(runs, key)):
            name = key
        out[key] = name
    return out


def shown(argv):
    """A step as the user would type it."""
    return " ".join(shlex.quote(a) for a in ["python"] + argv[1:])


def run_plan(steps, runs, budget_s, dry_run=False, resume=True, run_dirs=None):
    """Run the steps in order within ``budget_s`` seconds; returns ``[(argv, status, seconds)]``.

    Resume: each step that succeeded is recorded in ``<runs>/reproduce_done.txt`` and
    skipped by a rerun (``resume=False`` runs everything again; every tool also resumes
    its own partial work). A failed step skips the rest of its run; a failed shared
    step (data, superpixels) skips everything after it. Each run's commands are appended
    to ``<runs>/<run_dirs[key]>/commands.txt``, where the report finds them.
    """
    run_dirs = run_dirs or {}
    start, done, failed = time.time(), [], set()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1)))
    state = os.path.join(runs, "reproduce_done.txt")
    finished = set()
    if resume and os.path.isfile(state):
        with open(state) as f:
            finished = {line.rstrip("\n") for line in f}
    for key, argv in steps:
        cmd = shown(argv)
        if dry_run:
            print(cmd)
            continue
        if key in failed:
            done.append((cmd, "skipped (an earlier step of this run failed)", 0.0))
            continue
        if cmd in finished:
            done.append((cmd, "ok (done before)", 0.0))
            continue
        if time.time() - start > budget_s:
            done.append((cmd, "skipped (budget spent)", 0.0))
            continue
        if key:
            folder = os.path.join(runs, run_dirs.get(key, key))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "commands.txt"), "a") as f:
                f.write(cmd + "\n")
        t0 = time.time()
        print(f"[{time.time() - start:7.0f}s] {cmd}", flush=True)
        proc = subprocess.run(argv, cwd=ROOT, env=env)
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        if proc.returncode:
            failed.add(key)
            if key is None:  # data or superpixels: nothing after can run
                failed.update(k for k, _ in steps)
        else:
            os.makedirs(runs, exist_ok=True)
            with open(state, "a") as f:
                f.write(cmd + "\n")
        done.append((cmd, status, time.time() - t0))
    return done


def body(args):
    from icd_mx import report
    from icd_mx.errors import InputError
    from icd_mx.io import save_text

    run_dirs = {}
    for item in args.map or []:
        if "=" not in item:
            raise InputError(item, "--map takes key=folder")
        key, folder = item.split("=", 1)
        if key not in report.run_keys():
            raise InputError(item, f"unknown run key; known: {', '.join(report.run_keys())}")
        run_dirs[key] = folder
    note, log = "", []
    if args.minivoc or args.voc:
        if args.minivoc:
            steps, dirs = minivoc_plan(args.runs, args.train, args.val, args.classes, args.test), minivoc_run_dirs()
        else:
            gpus = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus is not None else None
            steps, dirs = voc_plan(args.runs, args.root, gpus, args.saliency), voc_run_dirs()
        budget = args.budget_min if args.budget_min is not None else (90.0 if args.minivoc else 14 * 24 * 60.0)
        log = run_plan(steps, args.runs, budget * 60, args.dry_run, resume=not args.redo, run_dirs=dirs)
        if args.dry_run:
            print(f"# {len(steps)} steps; the report reads the run folders under {args.runs}: "
                  + ", ".join(f"{k}={v}" for k, v in dirs.items() if k != v), file=sys.stderr)
            return
        spent = sum(s for _, _, s in log)
        steps_line = (f"Steps: {sum(s.startswith('ok') for _, s, _ in log)} ok of {len(log)}, "
                      f"{spent / 60:.1f} min this time, budget {budget:g} min.")
        if args.minivoc:
            note = (f"Measured on the generated mini-VOC ({args.train} train_aug / {args.val} val / {args.test} "
                    f"test images, {args.classes} classes) at CPU scale ({BASE_CFG} with the overrides in "
                    f"tools/reproduce.py: width 1/8, a pre-trained stand-in for ImageNet, few epochs): these "
                    f"numbers show every experiment runs end to end on a CPU, they are not the paper's setting. "
                    + steps_line)
        else:
            note = ("Measured on PASCAL VOC 2012 with the release's settings (configs/voc_*.yaml; the test "
                    "column needs the evaluation server's score of the submission). " + steps_line)
        run_dirs = dict(dirs, **run_dirs)
    else:
        run_dirs = dict(default_run_dirs(args.runs), **run_dirs)
    # the mini-VOC has few classes: the 21-class mean would count the absent ones as 0
    md = report.render(args.runs, run_dirs, note=note, present=bool(args.minivoc))
    if log:
        md += "\n## Steps\n\n" + "\n".join(f"- {status} ({sec:.0f}s): `{cmd}`" for cmd, status, sec in log) + "\n"
    out = args.out or os.path.join(args.runs, "report.md")
    save_text(out, md)
    print(md)
    print(f"written: {out}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs", help="folder of run folders")
    parser.add_argument("--map", action="append", metavar="KEY=FOLDER",
                        help="run key -> folder under --runs (keys: cam, icd, bu_abs, ..., seg_vgg16, seg_r101)")
    parser.add_argument("--out", help="markdown file (default: <runs>/report.md)")
    parser.add_argument("--minivoc", action="store_true", help="run every table on the generated mini-VOC first")
    parser.add_argument("--voc", action="store_true", help="run every table on PASCAL VOC 2012 first (GPUs)")
    parser.add_argument("--budget-min", type=float, default=None,
                        help="time budget, minutes: steps that would start later are skipped "
                             "(default: 90 for --minivoc, 14 days for --voc)")
    parser.add_argument("--redo", action="store_true", help="run the steps done before again (default: skip them)")
    parser.add_argument("--root", default="", help="--voc dataset root (default: the configs' data.root)")
    parser.add_argument("--gpus", default=None, help="--voc GPU ids for every stage, e.g. 0,1 (default: the configs')")
    parser.add_argument("--saliency", default="saliency", help="--voc saliency folder under the root")
    parser.add_argument("--train", type=int, default=160, help="--minivoc train_aug images")
    parser.add_argument("--val", type=int, default=40, help="--minivoc val images")
    parser.add_argument("--test", type=int, default=40, help="--minivoc test images (scored: they have masks)")
    parser.add_argument("--classes", type=int, default=6, help="--minivoc classes")
    parser.add_argument("--dry-run", action="store_true", help="print the --minivoc / --voc commands only")
    args = parser.parse_args(argv)
    if args.minivoc and args.voc:
        parser.error("--minivoc or --voc, not both")
    if args.minivoc and args.runs == "runs":
        args.runs = os.path.join("runs", "minivoc")
    from icd_mx.cli import run_main

    run_main(body, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
