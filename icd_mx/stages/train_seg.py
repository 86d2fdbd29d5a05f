"""Training DeepLab-LargeFOV on seeds: dataset, loss and the engine task.

Defaults and their sources (``SegConfig``): DeepLab-LargeFOV (Chen et al., ICLR 2015)
trains with SGD momentum 0.9, weight decay 5e-4 on weights, lr x10 on the classifier
and a poly schedule; the ICD authors' later MXNet segmentation work uses lr 5e-4,
20 epochs, batch 16 and 321x321 crops. Augmentation mirrors the ICD stage
(icd-reference.md, "Training augmentation"): a scale from ``seg.scales`` (bilinear
image, nearest labels), flip p = 0.5, pad bottom/right (image 127, labels 255), random
crop. Labels are taken at the network's output grid (every 8th pixel, output ``i`` on
input pixel ``8 i``), as DeepLab trains on shrunk labels.
"""
import dataclasses
import logging
import os

import cv2
import numpy as np
from mxnet.gluon.data import Dataset

from ..data.datasets import make_loader, sample_rng
from ..data.transforms import PAD_VALUE
from ..data.voc import IGNORE, VOCLayout, read_image, read_list, read_mask
from ..errors import InputError
from ..nn.deeplab import NUM_SEG_CLASSES

logger = logging.getLogger(__name__)
OUTPUT_STRIDE = 8


def seg_transform(img, label, rng, crop_size=321, scales=(0.5, 0.75, 1.0, 1.25, 1.5)):
    """Random scale, flip, pad (image 127, label 255) and crop of an image and its label map.

    Parameters
    ----------
    img : ndarray
        ``HxWx3`` RGB, 0..255.
    label : ndarray
        ``HxW`` uint8 labels (0..20, 255 ignored).
    rng : numpy.random.RandomState
        Draws, in order: scale index, flip, crop top, crop left.
    crop_size : int
    scales : sequence of float

    Returns
    -------
    img : ndarray ``(3, C, C) float32``
    label : ndarray ``(C, C) float32`` (255 = ignore)
    """
    img = np.asarray(img, np.float32)
    scale = float(scales[rng.randint(len(scales))])
    if scale != 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(label, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    if rng.rand() < 0.5:
        img, label = img[:, ::-1], label[:, ::-1]
    h, w = label.shape
    ph, pw = max(crop_size - h, 0), max(crop_size - w, 0)
    if ph or pw:
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), constant_values=PAD_VALUE)
        label = np.pad(label, ((0, ph), (0, pw)), constant_values=IGNORE)
    h, w = label.shape
    top, left = rng.randint(h - crop_size + 1), rng.randint(w - crop_size + 1)
    img = img[top:top + crop_size, left:left + crop_size]
    label = label[top:top + crop_size, left:left + crop_size]
    return np.ascontiguousarray(img.transpose(2, 0, 1)), np.ascontiguousarray(label, np.float32)


class SegTrainDataset(Dataset):
    """Images with seed label maps, items ``(img (3,C,C) float32, label (C,C) float32)``.

    Parameters
    ----------
    data_cfg : icd_mx.config.DataConfig
        ``root`` and ``on_bad_sample``.
    seg_cfg : icd_mx.config.SegConfig
        ``seeds`` (folder of ``<id>.png``), ``crop_size``, ``scales``.
    ids : list of str or str
        Image ids, or a list name / path.

    Raises
    ------
    InputError
        Empty list, no seed folder, a missing image or seed (the first one is named).
        A seed whose size differs from its image fails when loaded, naming the seed.
    """

    def __init__(self, data_cfg, seg_cfg, ids):
        self.cfg, self.seg = data_cfg, seg_cfg
        self.layout = VOCLayout(data_cfg.root)
        if not seg_cfg.seeds or not os.path.isdir(seg_cfg.seeds):
            raise InputError(seg_cfg.seeds or "seg.seeds", "seed folder not found")
        if isinstance(ids, str):
            ids = read_list(data_cfg.root, ids)
        self.ids = self._scan(list(ids))

    @property
    def skip(self):
        return self.cfg.on_bad_sample == "skip"

    def seed_path(self, id_):
        """``<seg.seeds>/<id>.png``."""
        return os.path.join(self.seg.seeds, id_ + ".png")

    def _scan(self, ids):
        if not ids:
            raise InputError(self.cfg.root, "the sample list is empty")
        missing = [p for i in ids for p in (self.layout.image(i), self.seed_path(i)) if not os.path.isfile(p)]
        if missing:
            problem = f"file not found ({len(missing)} missing images/seeds for {len(ids)} listed ids)"
            if not self.skip:
                raise InputError(missing[0], problem)
            logger.warning("skipping samples: %s: %s", missing[0], problem)
            bad = set(missing)
            ids = [i for i in ids if self.layout.image(i) not in bad and self.seed_path(i) not in bad]
            if not ids:
                raise InputError(self.cfg.root, "no usable sample left")
        return ids

    def __len__(self):
        return len(self.ids)

    def get(self, index, seed=0, epoch=0):
        """Item ``index`` with the randomness of ``(seed, epoch, index)``."""
        id_ = self.ids[index]
        img = read_image(self.layout.image(id_))
        label = read_mask(self.seed_path(id_), shape=img.shape[:2])
        return seg_transform(img, label, sample_rng(seed, epoch, index), self.seg.crop_size, self.seg.scales)

    def __getitem__(self, index):
        return self.get(index)


def seg_loss(F, logits, label, num_classes=NUM_SEG_CLASSES):
    """Softmax cross-entropy over labelled pixels, one value per image.

    Parameters
    ----------
    F : module
        ``mxnet.nd`` or ``mxnet.sym``.
    logits : NDArray or Symbol
        ``(N, K, h, w)`` class scores, ``K = num_classes``.
    label : NDArray or Symbol
        ``(N, h, w)`` labels at the same resolution; 255 (any value >= ``num_classes``)
        is ignored.

    Returns
    -------
    NDArray or Symbol
        ``(N,)``: per image, the mean of ``-log softmax(logits)[label]`` over its labelled
        pixels (0 for an image without any).
    """
    valid = label < num_classes
    picked = F.pick(F.log_softmax(logits, axis=1), F.where(valid, label, F.zeros_like(label)), axis=1)
    nll = -F.sum(picked * valid, axis=(1, 2))
    count = F.sum(valid, axis=(1, 2))
    return nll / F.maximum(count, F.ones_like(count))


def label_at_output(label, out_shape, stride=OUTPUT_STRIDE):
    """Labels at the output grid: pixel ``(stride i, stride j)`` for output ``(i, j)``.

    Parameters
    ----------
    label : NDArray ``(N, H, W)``
    out_shape : tuple ``(h, w)`` of the logits

    Returns
    -------
    NDArray ``(N, h, w)``
    """
    h, w = out_shape
    sub = label[:, ::stride, ::stride] if stride > 1 else label
    return sub[:, :h, :w]


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

    from ..nn.deeplab import get_deeplab, load_resnet_imagenet, load_vgg_init

    net = get_deeplab(seg_cfg.backbone, seg_cfg.width, seg_cfg.resnet_layers, seg_cfg.frozen_bn)
    net.initialize(mx.init.Xavier(magnitude=2), ctx=ctx)
    report = None
    if init_path:
        if seg_cfg.backbone == "vgg16":
            report = load_vgg_init(net, init_path, ctx)
        else:
            report = load_resnet_imagenet(net.backbone, init_path, ctx)
        if report["missing"]:  # never train on a partly random backbone by mistake
            from ..errors import InputError

            shown = ", ".join(report["missing"][:4]) + (" ..." if len(report["missing"]) > 4 else "")
            raise InputError(init_path, f"not a {seg_cfg.backbone} init: {len(report['missing'])} backbone "
                                        f"parameters missing ({shown})")
    return net, report


def train_seg(cfg, resume=True):
    """The segmentation training stage: DeepLab on ``seg.seeds`` for ``data.train_list``.

    Devices, KVStore, schedule, checkpoints, resume and logs are the engine's
    (:func:`icd_mx.engine.trainer.fit`), in ``cfg.out_dir``, locked for the stage;
    ``config_train_seg.yaml`` is written once the resume is accepted (docs/reliability.md).

    Returns
    -------
    dict
        :func:`~icd_mx.engine.trainer.fit`'s summary.
    """
    from ..cli import save_run_config
    from ..engine.trainer import fit, get_contexts
    from ..io import run_lock

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
