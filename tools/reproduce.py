#!/usr/bin/env python
"""Render the paper's Tables 1-8 from finished runs, or run them all at CPU scale on the mini-VOC.

    python tools/reproduce.py --runs runs --map icd=voc_vgg16_icd --out report.md
    python tools/reproduce.py --minivoc --runs runs/minivoc --budget-min 60
    python tools/reproduce.py --minivoc --dry-run            # print the plan only

Every measured cell sits beside the paper's number with the command that produced it;
cells whose evaluation record is missing read "not run" (icd_mx/report.py).

--minivoc generates a small synthetic VOC, then runs, through the stage tools, the CAM
baseline, ICD and its ablations (Tables 1-6: train, infer, seeds, evaluate) and DeepLab
on ICD seeds vs CAM seeds (Tables 7-8: train_seg, test_seg), at reduced width and size.
Each command is appended to <run>/commands.txt; every tool resumes, so rerunning continues.
Steps that would start after the budget is spent are skipped (their cells: "not run").
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


def minivoc_plan(runs, n_train=160, n_val=40, classes=6, n_test=40):
    """The ordered steps of the mini-VOC reproduction: ``[(run key or None, argv)]``.

    One generated set (with saliency maps and a scored test split), one pre-training
    (the ImageNet stand-in, shared by every ICD run and by the VGG16 DeepLab runs, as
    the 20M init is on VOC), superpixels, then each run's stages.
    """
    data = os.path.join(runs, "data")
    init = os.path.join(runs, "pretrain", "pretrain", "init.params")
    steps = [(None, _tool("make_synthetic", data, "--train", str(n_train), "--val", str(n_val), "--test",
                          str(n_test), "--classes", str(classes), "--seed", "0"))]
    common = [f"data.root={data}", f"model.init={init}", f"superpixels.feature_params={init}"]
    steps.append((None, _tool("pretrain", "--config", BASE_CFG, *common, f"pretrain.classes={classes}",
                              f"run_dir={os.path.join(runs, 'pretrain')}")))
    steps.append((None, _tool("superpixels", "--config", BASE_CFG, *common, "--list", "train_aug", "--quiet")))
    for key, ablation in ICD_RUNS.items():
        run_dir = os.path.join(runs, key)
        cfgs = ["--config", BASE_CFG] + (["--config", f"configs/ablations/{ablation}.yaml"] if ablation else [])
        over = common + MINI_ICD + [f"name={key}", f"run_dir={run_dir}"] + (["model.mode=cam"] if key == "cam" else [])
        variants = {"cam": "[cam_thr]", "icd": "[icd_bu:raw, icd_bu:crf, icd_bu_sp:raw, raw, crf, sal]"}.get(
            key, "[icd_bu:raw, icd_bu:crf, raw, crf]")
        steps += [(key, _tool("train", *cfgs, *over)), (key, _tool("infer", *cfgs, *over)),
                  (key, _tool("seeds", *cfgs, *over, f"seeds.variants={variants}", "--run", run_dir, "--quiet")),
                  (key, _tool("evaluate", *cfgs, *over, "--run", run_dir, "--quiet"))]
    for key, (backbone, seed_run, variant) in SEG_RUNS.items():
        over = common + MINI_SEG + [f"seg.init={init}"] + backbone + [
            f"name={key}", f"run_dir={os.path.join(runs, key)}",
            f"seg.seeds={os.path.join(runs, seed_run, 'seeds', variant)}"]
        steps += [(key, _tool("train_seg", "--config", BASE_CFG, *over))]
        steps += [(key, _tool("test_seg", "--config", BASE_CFG, *over, f"seg.split={split}"))
                  for split in ("val", "test")]
    return steps


def run_plan(steps, runs, budget_s, dry_run=False):
    """Run the steps in order within ``budget_s`` seconds; returns ``[(argv, status, seconds)]``."""
    start, done, failed = time.time(), [], set()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1)))
    for key, argv in steps:
        shown = " ".join(shlex.quote(a) for a in ["python"] + argv[1:])
        if dry_run:
            print(shown)
            continue
        if key in failed:
            done.append((shown, "skipped (an earlier step of this run failed)", 0.0))
            continue
        if time.time() - start > budget_s:
            done.append((shown, "skipped (budget spent)", 0.0))
            continue
        if key:
            os.makedirs(os.path.join(runs, key), exist_ok=True)
            with open(os.path.join(runs, key, "commands.txt"), "a") as f:
                f.write(shown + "\n")
        t0 = time.time()
        print(f"[{time.time() - start:7.0f}s] {shown}", flush=True)
        proc = subprocess.run(argv, cwd=ROOT, env=env)
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        if proc.returncode:
            failed.add(key)
            if key is None:  # data or superpixels: nothing after can run
                failed.update(k for k, _ in steps)
        done.append((shown, status, time.time() - t0))
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
    if args.minivoc:
        steps = minivoc_plan(args.runs, args.train, args.val, args.classes, args.test)
        log = run_plan(steps, args.runs, args.budget_min * 60, args.dry_run)
        if args.dry_run:
            return
        spent = sum(s for _, _, s in log)
        note = (f"Measured on the generated mini-VOC ({args.train} train_aug / {args.val} val / {args.test} test "
                f"images, {args.classes} classes) at CPU scale ({BASE_CFG} with the overrides in "
                f"tools/reproduce.py: width 1/8, a pre-trained stand-in for ImageNet, few epochs): these numbers "
                f"show every experiment runs end to end on a CPU, they are not the paper's setting. "
                f"Steps: {sum(s == 'ok' for _, s, _ in log)} ok of {len(log)}, "
                f"{spent / 60:.1f} min, budget {args.budget_min:g} min.")
    # the mini-VOC has few classes: the 21-class mean would count the absent ones as 0
    md = report.render(args.runs, run_dirs, note=note, present=args.minivoc)
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
    parser.add_argument("--budget-min", type=float, default=90.0, help="time budget of --minivoc, minutes")
    parser.add_argument("--train", type=int, default=160, help="--minivoc train_aug images")
    parser.add_argument("--val", type=int, default=40, help="--minivoc val images")
    parser.add_argument("--test", type=int, default=40, help="--minivoc test images (scored: they have masks)")
    parser.add_argument("--classes", type=int, default=6, help="--minivoc classes")
    parser.add_argument("--dry-run", action="store_true", help="print the --minivoc commands only")
    args = parser.parse_args(argv)
    if args.minivoc and args.runs == "runs":
        args.runs = os.path.join("runs", "minivoc")
    from icd_mx.cli import run_main

    run_main(body, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
