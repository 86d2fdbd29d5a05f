"""Score export: the trained network's score maps of every image of a list.

docs/method.md, "Inference" (inference): no scaling, the image padded
bottom/right to 513 at the top-left, maps at stride 8 (65 x 65). Beyond the release,
``infer.scales`` and ``infer.flip`` average the maps of the canvas resized by each scale
(and mirrored), each brought back to 65 x 65, as IRN and SEAM do for CAMs
(:func:`infer_multiscale`; the default, one scale and no flip, is the release's). Each kind is written
as ``<run>/scores/<kind>/<id>.npy``, float32 ``(n_present, 65, 65)`` with the
image's present classes in increasing class index (docs/architecture.md); the seed
stage resizes them to 513 and crops the original h x w, as the release does.
"""
import logging
import os
import typing

import numpy as np

from ..config import ScoreKind
from ..data.datasets import ICDInferDataset, make_loader
from ..data.voc import read_list
from ..engine.checkpoint import latest_checkpoint
from ..engine.trainer import get_contexts
from ..errors import InputError
from ..io import bind_outputs, check_outputs, file_digest, run_lock, save_npy
from ..nn.build import build_net
from ..scores import score_path
from . import save_run_config

logger = logging.getLogger(__name__)
ICD_KINDS = typing.get_args(ScoreKind)  # the allowed kinds live in the config types


def _resize_canvas(img, sp, side):
    """The canvas ``img`` (N,3,S,S) bilinear and its superpixel ids ``sp`` (N,S,S) nearest, at ``side``."""
    import mxnet as mx

    size = img.shape[-1]
    if side == size:
        return img, sp
    img = mx.nd.contrib.BilinearResize2D(img, height=side, width=side, align_corners=False)
    idx = mx.nd.array(((np.arange(side) + 0.5) * size / side).astype(np.int64).clip(0, size - 1), ctx=sp.context)
    return img, mx.nd.take(mx.nd.take(sp, idx, axis=1), idx, axis=2)


def infer_multiscale(net, img, sp, label, scales=(1.0,), flip=False):
    """``net.infer`` averaged over the canvas at each scale (and mirrored with ``flip``).

    Each pass's maps are mirrored back and resized (bilinear) to the unscaled canvas's
    stride-8 side; with the one scale 1.0 and no flip this is ``net.infer`` itself.
    """
    import mxnet as mx

    from ..scores import score_size

    size = img.shape[-1]
    side = score_size(size)
    total, count = {}, 0
    for scale in scales:
        s_img, s_sp = _resize_canvas(img, sp, max(int(round(size * float(scale))), 8))
        for mirrored in ((False, True) if flip else (False,)):
            x, y = (s_img.flip(axis=3), s_sp.flip(axis=2)) if mirrored else (s_img, s_sp)
            for kind, v in net.infer(x, y, label).items():
                if mirrored:
                    v = v.flip(axis=3)
                if v.shape[-1] != side:
                    v = mx.nd.contrib.BilinearResize2D(v, height=side, width=side, align_corners=False)
                total[kind] = v if kind not in total else total[kind] + v
            count += 1
    return total if count == 1 else {k: v / count for k, v in total.items()}


def _multiscale(cfg):
    """Whether ``cfg.infer`` asks for more than the release's one pass."""
    return [float(x) for x in cfg.infer.scales] != [1.0] or bool(cfg.infer.flip)


def resolve_checkpoint(cfg):
    """``infer.checkpoint``, else the run's newest checkpoint; an error if there is none."""
    if cfg.infer.checkpoint:
        return cfg.infer.checkpoint
    ckpt_dir = os.path.join(cfg.out_dir, "checkpoints")
    prefix = latest_checkpoint(ckpt_dir)
    if prefix is None:
        raise InputError(ckpt_dir, "no complete checkpoint; train first or set infer.checkpoint=FILE")
    return prefix + ".params"


def scores_record(cfg, checkpoint):
    """What the score maps depend on: the checkpoint's bytes, the inference graph, the
    canvas and the superpixels (:func:`icd_mx.io.bind_outputs`)."""
    m = cfg.model
    return {"checkpoint": file_digest(checkpoint), "infer_size": cfg.data.infer_size,
            **({"scales": [float(x) for x in cfg.infer.scales], "flip": bool(cfg.infer.flip)}
               if _multiscale(cfg) else {}),
            "model": {k: getattr(m, k) for k in ("mode", "width", "bu_feature", "td_structure", "bn_beta",
                                                 "max_superpixels")},
            "superpixels": os.path.abspath(os.path.join(cfg.data.root, cfg.data.superpixel_dir))}


def run(cfg, progress=True, overwrite=False):
    """Write the score maps of ``cfg.infer.kinds`` for ``cfg.infer.split``; skip finished images.

    The scores folder is bound to the checkpoint and config (:func:`scores_record`): a
    rerun with another checkpoint is refused unless ``overwrite``. The run folder is
    locked for the stage; the folder is bound and ``config_infer.yaml`` written only once
    the checkpoint and the images are accepted (docs/reliability.md).

    Returns
    -------
    dict with ``written``, ``skipped`` (already present) and ``checkpoint``.
    """
    with run_lock(cfg.out_dir, "infer"):
        return _run_infer(cfg, progress, overwrite)


def _run_infer(cfg, progress, overwrite):
    import mxnet as mx
    from mxnet.gluon.utils import split_and_load
    from tqdm import tqdm

    kinds = [k for k in cfg.infer.kinds if cfg.model.mode == "icd" or k == "cam"]
    bad = sorted(set(kinds) - set(ICD_KINDS))
    if bad:
        raise InputError("infer.kinds", f"unknown kind(s) {', '.join(bad)}; known: {', '.join(ICD_KINDS)}")
    ids = read_list(cfg.data.root, cfg.infer.split)
    ckpt = resolve_checkpoint(cfg)
    if not os.path.isfile(ckpt):
        raise InputError(ckpt, "checkpoint not found")
    folder, record = os.path.join(cfg.out_dir, "scores"), scores_record(cfg, ckpt)
    replaced = check_outputs(folder, record, overwrite)  # a refusal writes nothing
    todo = list(ids) if replaced else [i for i in ids if not all(os.path.isfile(score_path(cfg.out_dir, k, i))
                                                                 for k in kinds)]
    if todo:  # the inputs first: the checkpoint, then every image, superpixel map and XML
        contexts = get_contexts(cfg.train.gpus)
        net = build_net(cfg.model, contexts, ckpt, trained=True)
        if not _multiscale(cfg):  # one canvas shape: plan the graph's memory once
            net.hybridize(static_alloc=True, static_shape=True)
        ds = ICDInferDataset(cfg.data, todo, cfg.model.max_superpixels)
    bind_outputs(folder, record, overwrite)
    save_run_config(cfg, "infer")
    if not todo:
        return {"written": 0, "skipped": len(ids), "checkpoint": ckpt}
    loader = make_loader(ds, cfg.infer.batch_size * len(contexts), num_workers=cfg.data.num_workers)
    bar = tqdm(total=len(ds), desc="scores", disable=not progress)
    for img, sp, label, index in loader:
        outs = [infer_multiscale(net, *xs, scales=cfg.infer.scales, flip=cfg.infer.flip)
                for xs in zip(*(split_and_load(x, contexts, even_split=False) for x in (img, sp, label)))]
        label, index = label.asnumpy(), index.asnumpy().astype(int)
        for kind in kinds:
            maps = np.concatenate([o[kind].asnumpy() for o in outs], axis=0)
            for n, i in enumerate(index):
                save_npy(score_path(cfg.out_dir, kind, ds.ids[i]), maps[n, np.flatnonzero(label[n])])
        bar.update(len(index))
    bar.close()
    mx.nd.waitall()
    return {"written": len(todo), "skipped": len(ids) - len(todo), "checkpoint": ckpt}
