"""The CPU demo: the whole pipeline on the generated mini-VOC, through the stage tools.

Each stage runs as the command a user would type (``tools/<stage>.py --config ...``),
so the demo proves the tools, not a private shortcut. Every stage resumes, so a
rerun of ``make demo`` after an interruption continues where it stopped.

Stages: the mini-VOC, the backbone pre-training that stands in for ImageNet
(``tools/pretrain.py``; skipped when ``model.init`` names another file), superpixels,
ICD training, score export, seeds (CAM baseline, BU, BU+SP, TD, TD+CRF), evaluation.

Output folder (default ``demo/``): ``data/`` (the mini-VOC), ``run/`` (pre-training,
checkpoints, logs, scores, seeds, eval), ``summary.json``, ``summary.md`` and ``previews.png``.
"""
import json
import os
import subprocess
import sys
import time

from .io import save_json, save_png, save_text

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
# The seed variants of the paper's Table 3 ablation, plus the CAM baseline.
VARIANTS = [("cam_thr", "CAM baseline (threshold)"), ("icd_bu_raw", "ICD bottom-up (BU)"),
            ("icd_bu_sp_raw", "BU + superpixel refine"), ("icd_td_raw", "BU + SP + top-down (TD)"),
            ("icd_td_crf", "TD + CRF")]
SEED_SPEC = "[cam:cam_thr, icd_bu:raw, icd_bu_sp:raw, icd_td:raw, icd_td:crf]"


def _tool(name, config, overrides, extra=()):
    """Run one stage tool; a failing stage ends the demo with its exit status (its own
    one-line error already printed), never with a traceback of this script."""
    cmd = [sys.executable, os.path.join(TOOLS, name + ".py"), "--config", config, *extra, *overrides]
    print("$ " + " ".join(cmd[1:]), flush=True)
    t0 = time.time()
    code = subprocess.run(cmd).returncode
    if code:
        print(f"error: demo stage {name} failed (exit {code}); run the demo again to continue from it",
              file=sys.stderr)
        sys.exit(code)
    return round(time.time() - t0, 1)


def run_demo(config, out_dir, classes=6, n_train=240, n_val=60, seed=0, overrides=()):
    """Run every stage; return the summary dict (also written to ``out_dir``)."""
    from .config import load_config
    from .data.synthetic import check_generator_version, make_minivoc
    from .pretrain import init_path

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
    if cfg.model.init == init_path(cfg):  # the demo's stand-in for ImageNet (icd_mx.pretrain)
        times["pretrain"] = _tool("pretrain", config, ov)
    times["superpixels"] = _tool("superpixels", config, ov, ["--list", cfg.data.train_list])
    times["train"] = _tool("train", config, ov)
    times["infer"] = _tool("infer", config, ov)
    times["seeds"] = _tool("seeds", config, ov + [f"seeds.variants={SEED_SPEC}"], ["--quiet"])
    times["evaluate"] = _tool("evaluate", config, ov, ["--quiet"])
    summary = summarise(cfg.out_dir, times)
    save_json(os.path.join(out_dir, "summary.json"), summary)
    save_text(os.path.join(out_dir, "summary.md"), render_markdown(summary))
    write_previews(cfg, os.path.join(out_dir, "previews.png"))
    return summary


def summarise(run_dir, times):
    """Seed mIoU per variant, score sweeps and mAP, and the paper's two claims checked."""
    def load(name):
        with open(os.path.join(run_dir, "eval", name + ".json")) as f:
            return json.load(f)

    seeds = {v: load("seeds_" + v) for v, _ in VARIANTS}
    scores = {k: load("scores_" + k) for k in ("cam", "icd_bu", "icd_bu_sp", "icd_td")}
    miou = {v: round(r["miou_present"], 2) for v, r in seeds.items()}
    ablation = [miou[v] for v, _ in VARIANTS[1:]]
    gain = round(miou["icd_td_crf"] - miou["cam_thr"], 2)
    return {
        "seeds_miou_present": miou,
        "seeds_miou_21": {v: round(r["miou"], 2) for v, r in seeds.items()},
        "scores": {k: {"map": round(r["map"], 2), "sweep": r["sweep"]} for k, r in scores.items()},
        "claims": {"icd_minus_cam_miou": gain, "icd_beats_cam_by_10": gain >= 10.0,
                   "ablation_bu<bu_sp<td<td_crf": all(a < b for a, b in zip(ablation, ablation[1:]))},
        "seconds": dict(times, total=round(sum(times.values()), 1)),
    }


def render_markdown(summary):
    """The demo's table (mIoU over the classes present in the mini-VOC, + background)."""
    m = summary["seeds_miou_present"]
    lines = ["# icd-mx demo on the generated mini-VOC", "",
             "Seeds on train_aug, mIoU (%) over background + the classes present "
             "(the release's 21-class mean in brackets).", "",
             "| seeds | mIoU |", "|---|---|"]
    for v, name in VARIANTS:
        lines.append(f"| {name} | {m[v]:.1f} ({summary['seeds_miou_21'][v]:.1f}) |")
    lines += ["", "Score maps: pixel mAP (Table 1) and threshold sweep mIoU / recall (Table 2).", "",
              "| scores | mAP | T=0 | T=0.1 | T=0.3 | T=0.5 |", "|---|---|---|---|---|---|"]
    for k, r in summary["scores"].items():
        cells = [f"{s['miou_present']:.1f} / {s['recall']:.1f}" for s in r["sweep"].values()]
        lines.append(f"| {k} | {r['map']:.1f} | " + " | ".join(cells) + " |")
    c = summary["claims"]
    lines += ["", f"ICD (TD + CRF) minus CAM baseline: {c['icd_minus_cam_miou']:+.1f} points "
              f"(claim: >= 10: {'yes' if c['icd_beats_cam_by_10'] else 'NO'}); "
              f"ablation rises BU < BU+SP < TD < TD+CRF: {'yes' if c['ablation_bu<bu_sp<td<td_crf'] else 'NO'}.",
              "", "Seconds per stage: " + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items()), ""]
    return "\n".join(lines)


def write_previews(cfg, path, count=6):
    """Image | ground truth | each seed variant, for a few training images."""
    from .data.voc import VOCLayout, read_image, read_list, read_mask
    from .viz import seed_sheet

    layout = VOCLayout(cfg.data.root)
    rows = []
    for id_ in read_list(cfg.data.root, cfg.seeds.split)[:count]:
        masks = [read_mask(layout.mask(id_))]
        for v, _ in VARIANTS:
            masks.append(read_mask(os.path.join(cfg.out_dir, "seeds", v, id_ + ".png")))
        rows.append((read_image(layout.image(id_)), masks))
    save_png(path, seed_sheet(rows, ["image", "ground truth", "CAM", "BU", "BU+SP", "TD", "TD+CRF"],
                              title=f"seeds on {cfg.seeds.split} (docs/method.md, Seeds)"))
