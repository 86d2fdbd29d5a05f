"""The ICD training stage: the ICD network and the VOC data as a task of the engine.

``run(cfg)`` trains ``cfg.model`` (ICD, or the CAM-only baseline) on
``cfg.data.train_list`` with the release's optimisation (docs/method.md,
"Optimisation"), writing ``<run>/checkpoints``, logs, the training curve and
per-epoch previews of the CAM / bottom-up / top-down score maps.
"""
import os

import numpy as np

from ..compat.release import export_release
from ..data.datasets import ICDInferDataset, ICDTrainDataset, make_loader
from ..data.voc import read_image
from ..engine.distributed import shard_batches
from ..engine.trainer import fit, get_contexts
from ..errors import InputError
from ..io import run_lock, save_png
from ..nn.build import build_net
from ..nn.losses import td_warmup_iters
from ..viz import score_sheet
from . import save_run_config


class ICDTask:
    """The engine task of ICD (see ``icd_mx.engine.trainer.Task``)."""

    def __init__(self, cfg, contexts, preview_count=4):
        self.cfg = cfg
        # fails on an empty list
        self.dataset = ICDTrainDataset(cfg.data, cfg.data.train_list, cfg.model.max_superpixels)
        self.net = build_net(cfg.model, contexts, cfg.model.init, static_shape=cfg.train.static_shape)
        self.net.td_warmup_iters = td_warmup_iters(cfg.model.td_warmup_epochs, len(self.dataset),
                                                   cfg.train.batch_size)
        self.preview_ids = self._pick_previews(preview_count)

    def _pick_previews(self, count):
        """A fixed handful of training images, multi-class ones included, for the previews.

        They are drawn at the end of each epoch, before its checkpoint is committed, so an
        image larger than ``data.infer_size`` is refused here, before any training."""
        from ..data.voc import image_size

        labels = np.asarray(self.dataset.labels)
        multi = [i for i in range(len(labels)) if labels[i].sum() > 1]
        single = [i for i in range(len(labels)) if labels[i].sum() == 1]
        picked = [self.dataset.ids[i] for i in single[: count - count // 2] + multi[: count // 2]]
        size = self.cfg.data.infer_size
        for id_ in picked:
            path = self.dataset.layout.image(id_)
            h, w = image_size(path)
            if max(h, w) > size:
                raise InputError(path, f"image {h}x{w} is larger than the inference size {size} "
                                       "(data.infer_size)")
        return picked

    def train_loader(self, epoch, batch_size, shard=(0, 1)):
        """This worker's share of each global batch of ``epoch`` (drop the last partial batch)."""
        d = self.cfg.data
        batches = shard_batches(len(self.dataset), batch_size, epoch, self.cfg.train.seed, shard, shuffle=True)
        return make_loader(self.dataset, batch_size, num_workers=d.num_workers, seed=self.cfg.train.seed,
                           epoch=epoch, batches=batches)

    def forward_train(self, ctx_batches, step):
        return self.net.forward_train(ctx_batches, step)

    def state_dict(self):
        # The sign-flip state is a Parameter (saved with the params); the TD warm-up
        # counter is the engine's global iteration. Nothing else to keep.
        return {}

    def load_state_dict(self, state):
        pass

    def export(self, prefix):
        """The checkpoint in the release's format, next to ours."""
        if self.cfg.model.mode == "icd":
            export_release(self.net, prefix + "-release.params")

    def on_epoch_end(self, epoch, run_dir):
        """Write ``previews/epoch-NNNN.png``: per image and present class, CAM / BU / BU+SP / TD."""
        import mxnet as mx

        if not self.preview_ids:
            return
        ds = ICDInferDataset(self.cfg.data, self.preview_ids, self.cfg.model.max_superpixels)
        ctx = self.net.collect_params().list_ctx()[0]
        tiles = []
        for i in range(len(ds)):
            img, sp, label, _ = ds[i]
            h, w = ds.original_size(i)
            outs = self.net.infer(mx.nd.array(img[None], ctx=ctx), mx.nd.array(sp[None], ctx=ctx),
                                  mx.nd.array(label[None], ctx=ctx))
            present = np.flatnonzero(label)
            stride = img.shape[-1] / outs["cam"].shape[-1]
            hh, ww = int(np.ceil(h / stride)), int(np.ceil(w / stride))
            maps = {k: v[0].asnumpy()[present, :hh, :ww] for k, v in outs.items()}
            rgb = read_image(ds.layout.image(ds.ids[i]))
            tiles.append((rgb, maps, present))
        save_png(os.path.join(run_dir, "previews", f"epoch-{epoch:04d}.png"),
                 score_sheet(tiles, title=f"epoch {epoch}: score maps of each present class"))


def run(cfg, resume=True):
    """Train ICD as ``cfg`` says; return the engine's summary dict.

    The run folder is locked for the stage, and ``config_train.yaml`` is written only once
    the data, the init and the checkpoint to resume from are accepted (docs/reliability.md).
    """
    with run_lock(cfg.out_dir, "train"):
        contexts = get_contexts(cfg.train.gpus)
        task = ICDTask(cfg, contexts)
        return fit(task, cfg.train, cfg.out_dir, contexts, kvstore=cfg.train.kvstore, resume=resume,
                   on_start=lambda epoch: save_run_config(cfg, "train"))
