"""The pipeline: every stage in order, as the CPU demo and the reproduction of the paper's
tables run them (docs/architecture.md, "Pipeline").

Each step is a stage command run in a process of its own, exactly as a user types it
(``python -m icd_mx <stage> ...``, the same as ``tools/<stage>.py`` and ``icd <stage>``), so the
plans prove the commands, not a private shortcut, and every stage resumes its own partial work.

    data -> pretrain (CPU only: the ImageNet stand-in) -> superpixels
    per ICD run (Tables 1-6): train -> infer -> seeds -> evaluate
    per DeepLab run (Tables 7-8): train_seg -> test_seg val -> test_seg test

:func:`run_demo` is the CPU demo (``make demo``); :func:`minivoc_plan` and :func:`voc_plan`
are the reproduction's plans (``tools/reproduce.py --minivoc`` / ``--voc``), both built by
:func:`stage_steps`; :func:`run_plan` runs a plan with a budget and resume.
"""
import os
import shlex
import subprocess
import sys
import time

# the checkout: the plans name its configs/ files and run their commands from it
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
    """The argv of one stage command (:mod:`icd_mx.commands`)."""
    return [sys.executable, "-m", "icd_mx", name, *args]


def _config_name(path, default):
    """The ``name`` a config file gives its run (the run folder the VOC walkthrough writes)."""
    import yaml

    with open(os.path.join(ROOT, path)) as f:
        return (yaml.safe_load(f) or {}).get("name", default)


def seed_variants(key):
    """The seed variants a run's tables read (Tables 2-6; the saliency rows of Tables 7-8)."""
    return {"cam": "[cam_thr]", "icd": "[icd_bu:raw, icd_bu:crf, icd_bu_sp:raw, raw, crf, sal]"}.get(
        key, "[icd_bu:raw, icd_bu:crf, raw, crf]")


def icd_steps(key, run_dir, cfgs, over):
    """One ICD run (Tables 1-6): train, export the score maps, make the seeds, evaluate."""
    seeds = [f"seeds.variants={seed_variants(key)}", "--run", run_dir, "--quiet"]
    return [(key, _tool("train", *cfgs, *over)),
            (key, _tool("infer", *cfgs, *over)),
            (key, _tool("seeds", *cfgs, *over, *seeds)),
            (key, _tool("evaluate", *cfgs, *over, "--run", run_dir, "--quiet"))]


def seg_steps(key, cfgs, over):
    """One DeepLab run (Tables 7-8): train on seeds, predict val (scored) and test (the submission)."""
    return [(key, _tool("train_seg", *cfgs, *over)),
            (key, _tool("test_seg", *cfgs, *over, "seg.split=val")),
            (key, _tool("test_seg", *cfgs, *over, "seg.split=test"))]


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
        steps += icd_steps(key, run_dir, cfgs, over)
    for key, (_, seed_run, variant) in SEG_RUNS.items():
        cfgs = [a for c in seg_cfgs(key) for a in ("--config", c)]
        over = seg_over(key) + [
            f"name={run_dirs[key]}", f"run_dir={os.path.join(runs, run_dirs[key])}",
            f"seg.seeds={os.path.join(runs, run_dirs[seed_run], 'seeds', variant)}"]
        steps += seg_steps(key, cfgs, over)
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
    """A step as the user would type it (``python -m icd_mx <stage> ...``)."""
    return " ".join(shlex.quote(a) for a in ["python"] + argv[1:])


def stage_of(argv):
    """The stage a step runs (``train``, ``seeds``...)."""
    return argv[3] if argv[1:3] == ["-m", "icd_mx"] else os.path.basename(argv[1])


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


# -- the CPU demo (`make demo`) --

class StageFailed(RuntimeError):
    """A stage of the demo exited with an error (its own one-line error already printed);
    :func:`icd_mx.commands.run_main` ends with its exit status."""

    def __init__(self, stage, code):
        super().__init__(f"demo stage {stage} failed (exit {code}); run the demo again to continue from it")
        self.exit_code = code


def _demo_step(name, config, overrides, extra=()):
    """Run one stage command; return its seconds. ``config``: a file or a list of them."""
    cfgs = [a for c in ([config] if isinstance(config, str) else config) for a in ("--config", c)]
    argv = _tool(name, *cfgs, *extra, *overrides)
    print("$ " + shown(argv), flush=True)
    t0 = time.time()
    code = subprocess.run(argv).returncode
    if code:
        raise StageFailed(name, code)
    return round(time.time() - t0, 1)


def run_demo(config, out_dir, classes=6, n_train=240, n_val=60, seed=0, overrides=()):
    """The CPU demo: every stage on the generated mini-VOC; return the summary dict (also
    written to ``out_dir``: ``summary.json``, ``summary.md``, ``previews.png``). Resumable."""
    from .config import load_config
    from .data.synthetic import check_generator_version, make_minivoc
    from .demo import SEED_SPEC, render_markdown, summarise, write_previews
    from .io import save_json, save_text
    from .stages.pretrain import init_path

    run_dir = f"{out_dir}/run"
    ov = [f"data.root={out_dir}/data", f"run_dir={run_dir}", f"model.init={run_dir}/pretrain/init.params",
          f"pretrain.classes={classes}",
          f"superpixels.feature_params={run_dir}/pretrain/init.params", *overrides]
    cfg = load_config(config, ov)
    times = {}
    t0 = time.time()
    if not os.path.isfile(os.path.join(cfg.data.root, "ImageSets", "Segmentation", "train_aug.txt")):
        make_minivoc(cfg.data.root, n_train=n_train, n_val=n_val, seed=seed, num_classes=classes, progress=True)
    check_generator_version(cfg.data.root, out_dir)  # a demo folder from an older package is not reused
    times["data"] = round(time.time() - t0, 1)
    if cfg.model.init == init_path(cfg):  # the demo's stand-in for ImageNet (icd_mx.stages.pretrain)
        times["pretrain"] = _demo_step("pretrain", config, ov)
    times["superpixels"] = _demo_step("superpixels", config, ov, ["--list", cfg.data.train_list])
    times["train"] = _demo_step("train", config, ov)
    times["infer"] = _demo_step("infer", config, ov)
    times["seeds"] = _demo_step("seeds", config, ov + [f"seeds.variants={SEED_SPEC}"], ["--quiet"])
    times["evaluate"] = _demo_step("evaluate", config, ov, ["--quiet"])
    summary = summarise(cfg.out_dir, times)
    save_json(os.path.join(out_dir, "summary.json"), summary)
    save_text(os.path.join(out_dir, "summary.md"), render_markdown(summary))
    write_previews(cfg, os.path.join(out_dir, "previews.png"))
    return summary
