"""Render the paper's Tables 1-8 from finished runs, or run them all on VOC or the mini-VOC first.

    python tools/reproduce.py --voc --dry-run                # print the VOC plan (every command)
    python tools/reproduce.py --voc --gpus 0,1               # run it (resumes; weeks on 2 GPUs: README)
    python tools/reproduce.py --runs runs --out report.md    # render finished VOC runs
    python tools/reproduce.py --minivoc --runs runs/minivoc --budget-min 60

Every measured cell sits beside the paper's number with the command that produced it;
cells whose evaluation record is missing read "not run" (icd_mx/report.py).

--voc and --minivoc run one plan (icd_mx/pipeline.py): the CAM baseline, ICD and its
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
import sys

from . import run_main


def _run_dirs(maps):
    from .. import report
    from ..errors import InputError

    run_dirs = {}
    for item in maps or []:
        if "=" not in item:
            raise InputError(item, "--map takes key=folder")
        key, folder = item.split("=", 1)
        if key not in report.run_keys():
            raise InputError(item, f"unknown run key; known: {', '.join(report.run_keys())}")
        run_dirs[key] = folder
    return run_dirs


def _note(args, log, budget):
    spent = sum(s for _, _, s in log)
    steps_line = (f"Steps: {sum(s.startswith('ok') for _, s, _ in log)} ok of {len(log)}, "
                  f"{spent / 60:.1f} min this time, budget {budget:g} min.")
    if args.minivoc:
        from ..pipeline import BASE_CFG

        return (f"Measured on the generated mini-VOC ({args.train} train_aug / {args.val} val / {args.test} "
                f"test images, {args.classes} classes) at CPU scale ({BASE_CFG} with the overrides in "
                f"icd_mx/pipeline.py: width 1/8, a pre-trained stand-in for ImageNet, few epochs): these "
                f"numbers show every experiment runs end to end on a CPU, they are not the paper's setting. "
                + steps_line)
    return ("Measured on PASCAL VOC 2012 with the release's settings (configs/voc_*.yaml; the test "
            "column needs the evaluation server's score of the submission). " + steps_line)


def body(args):
    from .. import pipeline, report
    from ..io import save_text

    run_dirs = _run_dirs(args.map)
    note, log = "", []
    if args.minivoc or args.voc:
        if args.minivoc:
            steps = pipeline.minivoc_plan(args.runs, args.train, args.val, args.classes, args.test)
            dirs = pipeline.minivoc_run_dirs()
        else:
            gpus = [int(g) for g in args.gpus.split(",") if g.strip()] if args.gpus is not None else None
            steps, dirs = pipeline.voc_plan(args.runs, args.root, gpus, args.saliency), pipeline.voc_run_dirs()
        budget = args.budget_min if args.budget_min is not None else (90.0 if args.minivoc else 14 * 24 * 60.0)
        log = pipeline.run_plan(steps, args.runs, budget * 60, args.dry_run, resume=not args.redo, run_dirs=dirs)
        if args.dry_run:
            print(f"# {len(steps)} steps; the report reads the run folders under {args.runs}: "
                  + ", ".join(f"{k}={v}" for k, v in dirs.items() if k != v), file=sys.stderr)
            return
        note, run_dirs = _note(args, log, budget), dict(dirs, **run_dirs)
    else:
        run_dirs = dict(pipeline.default_run_dirs(args.runs), **run_dirs)
    # the mini-VOC has few classes: the 21-class mean would count the absent ones as 0
    md = report.render(args.runs, run_dirs, note=note, present=bool(args.minivoc))
    if log:
        md += "\n## Steps\n\n" + "\n".join(f"- {status} ({sec:.0f}s): `{cmd}`" for cmd, status, sec in log) + "\n"
    out = args.out or os.path.join(args.runs, "report.md")
    save_text(out, md)
    print(md)
    print(f"written: {out}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    return run_main(body, args)
