"""Backbone pre-training on generated patches: the CPU demo's stand-in for ImageNet.

The release starts ICD from DeepLab's ImageNet VGG16, the "20M" init (docs/method.md,
"Optimisation"). No ImageNet weights exist where the demo runs, and a VGG16 trained from
scratch on a few hundred image labels in a CPU budget does not learn features that
separate objects from clutter, so its ICD directions have nothing to find (measured in
the README). This stage gives the demo what ImageNet gives VOC: the same backbone with
fc6/fc7, trained on a generic recognition task drawn by the mini-VOC's renderers
(:func:`icd_mx.data.synthetic.render_part_canvas`: which object parts - a body, the head
of class k - a canvas of clutter shows, image-level labels, no pixel labels). Its weights are written in the
"20M" init format (``<run>/pretrain/init.params``: ``arg:conv1_1_weight`` ... ``arg:fc7_bias``),
which ``model.init`` reads exactly like DeepLab's file; the ICD stage then runs as on VOC.
"""
import logging
import os
from multiprocessing import get_context

import numpy as np

from ..data.synthetic import GENERATOR_VERSION, part_names, render_part_canvas
from ..engine.distributed import shard_batches
from ..engine.trainer import fit, get_contexts
from ..io import atomic_path, run_lock
from ..nn.build import init_from_scratch
from . import save_run_config

logger = logging.getLogger(__name__)
POOL_FILE = "patches.npz"
INIT_FILE = "init.params"


def _render(args):
    seed, index, size, classes = args
    rng = np.random.RandomState(np.random.SeedSequence(seed, spawn_key=(1, index)).generate_state(4))
    return render_part_canvas(rng, size, classes)


def render_pool(count, size, classes, seed=0, workers=1, progress=False):
    """``count`` canvases ``(count, size, size, 3) uint8`` and multi-hot labels ``(count, L)``,
    each a function of ``(seed, index)`` only (the number of workers does not matter)."""
    jobs = [(seed, i, size, classes) for i in range(count)]
    if workers > 1:
        with get_context("spawn").Pool(workers) as pool:
            items = pool.imap(_render, jobs, chunksize=64)
            items = _bar(items, count, progress)
            out = list(items)
    else:
        out = list(_bar(map(_render, jobs), count, progress))
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def _bar(items, total, enabled):
    from tqdm import tqdm

    return tqdm(items, total=total, desc="patches", disable=not enabled)


def load_or_render_pool(run_dir, p, progress=True):
    """The patch pool of ``p`` (PretrainConfig), cached in ``run_dir/patches.npz``."""
    path = os.path.join(run_dir, POOL_FILE)
    key = np.array([p.patches, p.patch_size, p.classes, p.seed, GENERATOR_VERSION])
    if os.path.isfile(path):
        with np.load(path) as f:
            if np.array_equal(f["key"], key):
                return f["images"], f["labels"]
    images, labels = render_pool(p.patches, p.patch_size, p.classes, p.seed, p.render_workers, progress)
    os.makedirs(run_dir, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, images=images, labels=labels, key=key)
    return images, labels


class _Batches:
    """One epoch of augmented batches (random flip and quarter turn per patch)."""

    def __init__(self, images, labels, batches, seed):
        self.images, self.labels, self.batches, self.seed = images, labels, batches, seed

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        import mxnet as mx

        rng = np.random.RandomState(self.seed)
        for idx in self.batches:
            imgs = self.images[idx]
            turns, flips = rng.randint(4, size=len(idx)), rng.rand(len(idx)) < 0.5
            imgs = np.stack([np.rot90(im[:, ::-1] if f else im, t) for im, t, f in zip(imgs, turns, flips)])
            yield (mx.nd.array(imgs.transpose(0, 3, 1, 2)), mx.nd.array(self.labels[idx]))


class PretrainTask:
    """The engine task of the pre-training (see ``icd_mx.engine.trainer.Task``)."""

    def __init__(self, cfg, contexts, run_dir):
        from ..nn.pretrain import PartClassifier

        self.p = cfg.pretrain
        self.images, self.labels = load_or_render_pool(run_dir, self.p)
        self.net = PartClassifier(len(part_names(self.p.classes)), width=cfg.model.width)
        init_from_scratch(self.net, contexts, dirac=cfg.model.scratch_dirac)
        self.net.hybridize(static_alloc=True, static_shape=self.p.static_shape)
        self.run_dir = run_dir

    def train_loader(self, epoch, batch_size, shard=(0, 1)):
        batches = shard_batches(len(self.labels), batch_size, epoch, self.p.seed, shard, shuffle=True)
        return _Batches(self.images, self.labels, batches, [self.p.seed, epoch, shard[0]])

    def forward_train(self, ctx_batches, step):
        import mxnet as mx

        from ..nn.losses import cam_loss

        losses, correct = [], []
        for img, label in ctx_batches:
            logits = self.net(img)
            losses.append(cam_loss(mx.nd, logits, label).sum())  # multi-label sigmoid CE, as the CAM's
            correct.append(((logits > 0) == label).mean(axis=1).sum())
        n = sum(b[0].shape[0] for b in ctx_batches)
        ctx = losses[0].context
        return losses, {"acc": mx.nd.add_n(*[c.as_in_context(ctx) for c in correct]) / n}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def export(self, prefix):
        """The newest weights as the "20M"-format init (``<run>/pretrain/init.params``)."""
        from ..compat.release import export_init

        export_init(self.net, os.path.join(self.run_dir, INIT_FILE))


def init_path(cfg):
    """Where :func:`run` writes the init file of ``cfg``'s run."""
    return os.path.join(cfg.out_dir, "pretrain", INIT_FILE)


def run(cfg, resume=True):
    """Pre-train as ``cfg.pretrain`` says (width ``cfg.model.width``); return the init path."""
    run_dir = os.path.join(cfg.out_dir, "pretrain")
    with run_lock(cfg.out_dir, "pretrain"):
        contexts = get_contexts(cfg.train.gpus)
        task = PretrainTask(cfg, contexts, run_dir)
        out = fit(task, cfg.pretrain, run_dir, contexts, kvstore=cfg.train.kvstore, resume=resume,
                  on_start=lambda epoch: save_run_config(cfg, "pretrain"))
        path = init_path(cfg)
        if not os.path.isfile(path):  # resumed after the last epoch: nothing was exported yet
            task.export(out["checkpoint"])
        return path
