"""Multi-scale + flip prediction of DeepLab-LargeFOV, optional dense CRF, val scoring.

For each scale ``s`` (``seg.test_scales``, default 0.75, 1, 1.25) the image is resized
(bilinear, ``round(h s) x round(w s)``) and run together with its mirror image, each
padded bottom/right with 127 to ``8k + 1`` pixels so that the stride-8 output grid falls
exactly on input pixels ``0, 8, ..., 8k``. Softmax probabilities are upsampled to the padded size
(bilinear, corners aligned: the output grid), cropped, the mirror's flipped back, and
resized to the image size (bilinear, as ``cv2.resize``). The prediction is the average of
all these probability maps; the label the argmax, after the optional dense CRF
(:func:`icd_mx.crf.dense_crf`, unary ``-log p``).
"""
import os

import numpy as np

from ..data.transforms import PAD_VALUE
from ..data.voc import VOCLayout, read_image, read_list, read_mask, write_mask
from ..errors import InputError
from ..data.submission import write_submission

STRIDE = 8


def grid_size(n, stride=STRIDE):
    """Smallest ``stride * k + 1 >= n``: a padded side whose output grid ends on its last pixel."""
    return stride * max(0, -(-(n - 1) // stride)) + 1


def _softmax_at(net, batch, size, ctx):
    """Softmax of ``net`` on ``batch`` (N,3,Hp,Wp), upsampled (corners aligned) to ``size``."""
    import mxnet as mx

    probs = mx.nd.softmax(net(mx.nd.array(batch, ctx=ctx)), axis=1)
    return mx.nd.contrib.BilinearResize2D(probs, height=size[0], width=size[1], align_corners=True)


def predict_probs(net, img, scales=(0.75, 1.0, 1.25), flip=True, ctx=None):
    """Average softmax probabilities over scales (and mirror images) at the image size.

    Parameters
    ----------
    net : HybridBlock
        Maps ``(N, 3, H, W)`` RGB 0..255 to ``(N, K, ceil(H/8), ceil(W/8))`` logits.
    img : ndarray
        ``HxWx3`` RGB image (uint8 or float).
    scales : sequence of float
    flip : bool
        Also run the horizontally mirrored image.
    ctx : mxnet.Context, optional

    Returns
    -------
    ndarray
        ``(K, H, W) float32`` probabilities.
    """
    import cv2
    import mxnet as mx

    ctx = ctx or mx.cpu()
    h, w = img.shape[:2]
    img = np.asarray(img, np.float32)
    total, count = None, 0
    for s in scales:
        hs, ws = max(1, int(round(h * s))), max(1, int(round(w * s)))
        x = img if (hs, ws) == (h, w) else cv2.resize(img, (ws, hs), interpolation=cv2.INTER_LINEAR)
        hp, wp = grid_size(hs), grid_size(ws)
        views = [x, x[:, ::-1]] if flip else [x]
        batch = np.stack([np.pad(v, ((0, hp - hs), (0, wp - ws), (0, 0)), constant_values=PAD_VALUE)
                          .transpose(2, 0, 1) for v in views])
        probs = _softmax_at(net, batch, (hp, wp), ctx)[:, :, :hs, :ws]
        if flip:
            probs = mx.nd.concat(probs[0:1], mx.nd.flip(probs[1:2], axis=3), dim=0)
        if (hs, ws) != (h, w):
            probs = mx.nd.contrib.BilinearResize2D(probs, height=h, width=w, align_corners=False)
        part = probs.sum(axis=0)
        total = part if total is None else total + part
        count += probs.shape[0]
    return (total / count).asnumpy()


# DeepLab-LargeFOV's CRF for VOC (Chen et al., ICLR 2015): Gaussian sxy 3 weight 3, bilateral
# sxy 121, srgb 5, weight 4, 10 mean-field iterations (seg.crf_params, in this order).
DEEPLAB_CRF = (3.0, 3.0, 121.0, 5.0, 4.0)


def label_map(probs, rgb=None, crf=False, crf_params=DEEPLAB_CRF):
    """Argmax label map ``HxW uint8`` of ``(K, H, W)`` probabilities, after a dense CRF if ``crf``
    (``crf_params`` = Gaussian sxy, compat, bilateral sxy, srgb, compat; DeepLab's by default)."""
    if crf:
        from ..crf import dense_crf

        g_sxy, g_compat, b_sxy, b_srgb, b_compat = crf_params
        probs = dense_crf(np.ascontiguousarray(rgb, np.uint8), probs, gauss_sxy=g_sxy, gauss_compat=g_compat,
                          bi_sxy=b_sxy, bi_srgb=b_srgb, bi_compat=b_compat)
    return probs.argmax(axis=0).astype(np.uint8)


def split_ids(root, split):
    """Ids of a split list; InputError naming the list when it is empty."""
    ids = read_list(root, split)
    if not ids:
        raise InputError(split, "the list has no ids")
    return ids


def check_images(layout, ids, split):
    """InputError naming the first missing image when listed images are absent."""
    missing = [layout.image(i) for i in ids if not os.path.isfile(layout.image(i))]
    if missing:
        raise InputError(missing[0], f"image not found ({len(missing)} of {len(ids)} ids of {split!r} "
                                     "have no image)")


def predict_split(net, cfg, split, pred_dir, ctx=None, submission_root=None, progress=True):
    """Predict every image of ``split``; skip ids whose label PNG already exists (resume).

    Parameters
    ----------
    net : HybridBlock
    cfg : icd_mx.config.Config
        ``data.root``, ``seg.test_scales``, ``seg.flip``, ``seg.crf``.
    split : str
        List name or path (``val``, ``test``).
    pred_dir : str
        Single-channel label PNGs ``<pred_dir>/<id>.png`` (atomic writes).
    submission_root : str, optional
        Also write the VOC submission palette PNGs under this folder
        (:func:`~icd_mx.data.submission.write_submission`).

    Returns
    -------
    list of str
        The ids of the split.
    """
    from tqdm import tqdm

    layout = VOCLayout(cfg.data.root)
    ids = split_ids(cfg.data.root, split)
    check_images(layout, ids, split)
    for id_ in tqdm(ids, desc=f"predict {split}", disable=not progress):
        out = os.path.join(pred_dir, id_ + ".png")
        if os.path.isfile(out):
            pred = None
        else:
            img = read_image(layout.image(id_))
            probs = predict_probs(net, img, cfg.seg.test_scales, cfg.seg.flip, ctx)
            pred = label_map(probs, img, cfg.seg.crf, cfg.seg.crf_params)
            write_mask(out, pred)
        if submission_root:
            from ..data.submission import submission_path

            if not os.path.isfile(submission_path(submission_root, id_)):
                write_submission(submission_root, id_, read_mask(out) if pred is None else pred)
    return ids


def run(cfg, command="", overwrite=False):
    """The prediction stage: predict ``seg.split`` with the run's checkpoint, score or submit.

    Predictions go to ``<run>/pred/<split>[_crf]/<id>.png``, bound to the checkpoint and
    the test settings (predictions of another checkpoint are refused unless ``overwrite``,
    :func:`icd_mx.io.bind_outputs`, once the checkpoint and the images are checked). The run
    folder is locked (:func:`icd_mx.io.run_lock`) and the config saved as
    ``config_test_seg.yaml`` after the checks (docs/reliability.md). A split whose ground-truth
    masks all exist is scored into ``<run>/eval/seg_<split>.json`` (schema of
    :mod:`icd_mx.report`, percent as ``tools/evaluate.py`` writes); a split named
    ``test*`` is also written in the VOC submission layout under ``<run>/results/...``
    and packed into ``<run>/results.tar.gz``.

    Returns
    -------
    dict
        The evaluation record (``miou`` None when not scored).
    """
    from ..io import run_lock

    with run_lock(cfg.out_dir, "test_seg"):
        return _run_test(cfg, command, overwrite)


def _run_test(cfg, command, overwrite):
    from ..engine.checkpoint import latest_checkpoint
    from ..engine.trainer import get_contexts
    from ..io import bind_outputs, file_digest, load_param_file, mx_error_text, save_json
    from ..nn.deeplab import get_deeplab
    from . import save_run_config
    from ..data.submission import archive_submission

    seg, out = cfg.seg, cfg.out_dir
    ckpt = seg.checkpoint or latest_checkpoint(os.path.join(out, "checkpoints"))
    if not ckpt:
        raise InputError(os.path.join(out, "checkpoints"), "no checkpoint; run tools/train_seg.py first")
    params = ckpt if ckpt.endswith(".params") else ckpt + ".params"
    if not os.path.isfile(params):
        raise InputError(params, "checkpoint params file not found")
    ctx = get_contexts(cfg.train.gpus)[0]
    net = get_deeplab(seg.backbone, seg.width, seg.resnet_layers, seg.frozen_bn)
    load_param_file(params, "checkpoint parameter file")  # truncated or unreadable: said so
    try:
        net.load_parameters(params, ctx=ctx)
    except (AssertionError, RuntimeError, ValueError, KeyError) as e:
        raise InputError(params, f"does not match the {seg.backbone} network ({mx_error_text(e)})")
    net.hybridize()
    name = os.path.splitext(os.path.basename(seg.split))[0]
    layout = VOCLayout(cfg.data.root)
    is_test = name.startswith("test")
    pred_dir = os.path.join(out, "pred", name + ("_crf" if seg.crf else ""))
    made_by = {"checkpoint": file_digest(params), "backbone": seg.backbone, "width": seg.width,
               "scales": list(seg.test_scales), "flip": seg.flip, "crf": seg.crf and list(seg.crf_params)}
    check_images(layout, split_ids(cfg.data.root, seg.split), seg.split)  # inputs first, then bind
    replaced = bind_outputs(pred_dir, made_by, overwrite)  # refuses before writing anything
    save_run_config(cfg, "test_seg")
    if replaced and is_test:
        import shutil

        shutil.rmtree(os.path.join(out, "results"), ignore_errors=True)  # made from the replaced predictions
    ids = predict_split(net, cfg, seg.split, pred_dir, ctx, submission_root=out if is_test else None)
    record = {"stage": "seg", "split": name, "miou": None, "checkpoint": params,
              "crf": seg.crf, "scales": list(seg.test_scales), "flip": seg.flip, "command": command,
              "predictions": pred_dir}
    if is_test:
        record["submission"] = archive_submission(out)
    if all(os.path.isfile(layout.mask(i)) for i in ids):
        from ..metrics import evaluate_seeds  # the evaluator of tools/evaluate.py (percent)

        record.update(evaluate_seeds(layout, ids, pred_dir))
        save_json(os.path.join(out, "eval", f"seg_{name}{'_crf' if seg.crf else ''}.json"), record)
    return record
