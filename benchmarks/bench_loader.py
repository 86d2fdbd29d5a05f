#!/usr/bin/env python
"""Training loader cost per worker: CPU seconds per sample of ICDTrainDataset (read the JPEG
and the superpixel PNG, random scale, crop 321, flip; docs/method.md "Training
augmentation") in one process, so one worker's throughput is 1 / that. Prints JSON.

    python tools/make_synthetic.py /tmp/vocsize --train 32 --val 4 --min-side 375 --max-side 500
    python tools/superpixels.py --config configs/synthetic_demo.yaml data.root=/tmp/vocsize \\
        superpixels.features=color --list train_aug
    python benchmarks/bench_loader.py --root /tmp/vocsize

CPU time (not wall time), so a busy machine does not make the loader look slower;
docs/gpu.md compares it with the GPUs' appetite.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="dataset root with superpixels (VOC-like image sizes)")
    ap.add_argument("--list", default="train_aug")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args(argv)
    import numpy as np
    from PIL import Image

    from icd_mx.config import load_config
    from icd_mx.data.datasets import ICDTrainDataset, make_loader
    from icd_mx.data.voc import VOCLayout

    cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", "voc_vgg16_icd.yaml"),
                      [f"data.root={args.root}", f"data.train_list={args.list}"])
    ds = ICDTrainDataset(cfg.data, cfg.data.train_list, cfg.model.max_superpixels)
    layout = VOCLayout(args.root)
    sizes = [Image.open(layout.image(i)).size for i in ds.ids]
    n, cpu, wall = 0, 0.0, 0.0
    for epoch in range(args.epochs):
        loader = make_loader(ds, args.batch, shuffle=True, num_workers=0, epoch=epoch)
        c0, w0 = time.process_time(), time.time()
        for batch in loader:
            n += int(batch[0].shape[0])
        cpu += time.process_time() - c0
        wall += time.time() - w0
    print(json.dumps({"samples": n, "crop": cfg.data.crop_size, "scales": cfg.data.scales,
                      "mean_image_wh": [float(np.mean([s[0] for s in sizes])), float(np.mean([s[1] for s in sizes]))],
                      "cpu_s_per_sample": round(cpu / n, 4), "samples_per_s_per_worker": round(n / cpu, 1),
                      "wall_s_per_sample": round(wall / n, 4)}))


if __name__ == "__main__":
    sys.exit(main())
