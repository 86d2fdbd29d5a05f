"""The segmentation stage: DeepLab-LargeFOV trained on seeds as a task of the engine.

Defaults and their sources (``SegConfig``): DeepLab-LargeFOV (Chen et al., ICLR 2015)
trains with SGD momentum 0.9, weight decay 5e-4 on weights, lr x10 on the classifier
and a poly schedule; the ICD authors' later MXNet segmentation work uses lr 5e-4,
20 epochs, batch 16 and 321x321 crops. Augmentation is the ICD stage's
(:func:`icd_mx.data.transforms.seg_transform`; docs/method.md, "Training augmentation"):
a scale from ``seg.scales`` (bilinear image, nearest labels), flip p = 0.5, pad
bottom/right (image 127, labels 255), random crop. Labels are taken at the network's
output grid (every 8th pixel, output ``i`` on input pixel ``8 i``,
:func:`icd_mx.nn.losses.label_at_output`), as DeepLab trains on shrunk labels. The dataset
is :class:`icd_mx.data.datasets.SegTrainDataset`.
"""
import dataclasses
import logging

from ..data.datasets import SegTrainDataset, make_loader
from ..engine.trainer import fit, get_contexts
from ..errors import InputError
from ..io import run_lock
from ..nn.losses import label_at_output, seg_loss
from . import save_run_config

logger = logging.getLogger(__name__)


class SegTask:
    """The segmentation stage as an :func:`icd_mx.engine.trainer.fit` task.

    Parameters
    ----------
    cfg : icd_mx.config.Config
        ``data`` (root, list, workers), ``seg`` (model, seeds, augmentation, schedule),
        ``train`` (seed, log interval, devices).
    net : HybridBlock
        An initialised DeepLab network (:func:`build_seg_net`).
    dataset : SegTrainDataset, optional
        Default: built from ``cfg``.
    """

    def __init__(self, cfg, net, dataset=None):
        self.cfg, self.net = cfg, net
        self.dataset = dataset or SegTrainDataset(cfg.data, cfg.seg, cfg.data.train_list)

    def train_loader(self, epoch, batch_size=None, shard=(0, 1)):
        """Shuffled batches ``(img, label)`` of one epoch, deterministic in ``(seed, epoch)``.

        With ``shard = (rank, workers)`` (``dist_sync``), this worker's slice of each global
        batch (:func:`icd_mx.engine.distributed.shard_batches`).
        """
        from ..engine.distributed import shard_batches

        seed, workers = self.cfg.train.seed, self.cfg.data.num_workers
        bs = batch_size or self.cfg.seg.batch_size
        if shard[1] == 1 and len(self.dataset) < bs:  # a tiny set: one short batch rather than none
            return make_loader(self.dataset, bs, shuffle=True, num_workers=workers, seed=seed, epoch=epoch)
        # batch_size is this worker's share of the global batch (engine.trainer.Task)
        batches = shard_batches(len(self.dataset), bs, epoch, seed, shard)
        return make_loader(self.dataset, bs, num_workers=workers, seed=seed, epoch=epoch, batches=batches)

    def forward_train(self, ctx_batches, step):
        """Losses per context (sum over its images of the per-image mean CE) and metrics."""
        losses, pixels = [], []
        for img, label in ctx_batches:
            logits = self.net(img)
            target = label_at_output(label, logits.shape[2:])
            losses.append(seg_loss(_nd(), logits, target).sum())
            pixels.append((target < 255).sum() / max(1, target.size))
        metrics = {"loss": sum(loss.as_in_context(losses[0].context) for loss in losses)
                   / sum(b[0].shape[0] for b in ctx_batches),
                   "labelled": sum(p.as_in_context(losses[0].context) for p in pixels) / len(pixels)}
        return losses, metrics

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def seg_train_options(cfg):
    """The engine's options for the segmentation stage: ``cfg.train`` with the seg schedule."""
    return dataclasses.replace(cfg.train, batch_size=cfg.seg.batch_size, epochs=cfg.seg.epochs, lr=cfg.seg.lr)


def _nd():
    import mxnet as mx

    return mx.nd


def build_seg_net(seg_cfg, ctx=None, init_path=None):
    """DeepLab-LargeFOV from ``seg_cfg``, initialised (Xavier; fc8 N(0, 0.01)) on ``ctx``,
    then filled from ``init_path`` (VGG16 "20M" / gluoncv ``resnet101_v1`` params) if given.

    Returns
    -------
    (HybridBlock, dict or None)
        The network and the init loader's report.
    """
    import mxnet as mx

    from ..compat.deeplab_init import load_resnet_imagenet, load_vgg_init
    from ..nn.deeplab import get_deeplab

    net = get_deeplab(seg_cfg.backbone, seg_cfg.width, seg_cfg.resnet_layers, seg_cfg.frozen_bn)
    net.initialize(mx.init.Xavier(magnitude=2), ctx=ctx)
    report = None
    if init_path:
        if seg_cfg.backbone == "vgg16":
            report = load_vgg_init(net, init_path, ctx)
        else:
            report = load_resnet_imagenet(net.backbone, init_path, ctx)
        if report["missing"]:  # never train on a partly random backbone by mistake
            shown = ", ".join(report["missing"][:4]) + (" ..." if len(report["missing"]) > 4 else "")
            raise InputError(init_path, f"not a {seg_cfg.backbone} init: {len(report['missing'])} backbone "
                                        f"parameters missing ({shown})")
    return net, report


def run(cfg, resume=True):
    """The segmentation training stage: DeepLab on ``seg.seeds`` for ``data.train_list``.

    Devices, KVStore, schedule, checkpoints, resume and logs are the engine's
    (:func:`icd_mx.engine.trainer.fit`), in ``cfg.out_dir``, locked for the stage;
    ``config_train_seg.yaml`` is written once the resume is accepted (docs/reliability.md).

    Returns
    -------
    dict
        :func:`~icd_mx.engine.trainer.fit`'s summary.
    """
    with run_lock(cfg.out_dir, "train_seg"):
        contexts = get_contexts(cfg.train.gpus)
        dataset = SegTrainDataset(cfg.data, cfg.seg, cfg.data.train_list)  # bad input fails before the net
        net, report = build_seg_net(cfg.seg, contexts, cfg.seg.init)
        if report is not None:
            logger.info("init %s: %d loaded, missing %s", cfg.seg.init, report["loaded"], report["missing"])
        net.hybridize()
        task = SegTask(cfg, net, dataset)
        return fit(task, seg_train_options(cfg), cfg.out_dir, contexts, cfg.train.kvstore, resume,
                   on_start=lambda epoch: save_run_config(cfg, "train_seg"))
