"""The CPU demo's results: the summary of its runs, its table and its previews.

The demo itself (``make demo``, :func:`icd_mx.pipeline.run_demo`) runs every stage on the
generated mini-VOC: the backbone pre-training that stands in for ImageNet (skipped when
``model.init`` names another file), superpixels, ICD training, score export, seeds (CAM
baseline, BU, BU+SP, TD, TD+CRF), evaluation; then :func:`summarise`, :func:`render_markdown`
and :func:`write_previews` report them.

Output folder (default ``demo/``): ``data/`` (the mini-VOC), ``run/`` (pre-training,
checkpoints, logs, scores, seeds, eval), ``summary.json``, ``summary.md`` and ``previews.png``.
"""
import json
import os

from .io import save_png

# The seed variants of the paper's Table 3 ablation, plus the CAM baseline.
VARIANTS = [("cam_thr", "CAM baseline (threshold)"), ("icd_bu_raw", "ICD bottom-up (BU)"),
            ("icd_bu_sp_raw", "BU + superpixel refine"), ("icd_td_raw", "BU + SP + top-down (TD)"),
            ("icd_td_crf", "TD + CRF")]
SEED_SPEC = "[cam:cam_thr, icd_bu:raw, icd_bu_sp:raw, icd_td:raw, icd_td:crf]"


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
