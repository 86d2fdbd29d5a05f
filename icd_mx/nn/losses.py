"""ICD and DeepLab losses as functions of ``F`` (``mx.nd`` or ``mx.sym``), native ops only.

Every loss returns a **per-image** value of shape ``(N,)``. The training step sums
them over the images of a context, the engine back-propagates the sums and
``Trainer.step(global_batch)`` divides by the global batch, so the gradient equals
the reference's mean over the batch (docs/method.md "Optimisation": gradients
are averaged over the global batch). For L_bu the reference normalises by N*H*W
with N the whole batch: per image that is ``1/(H*W)``, and the division by N is the
trainer's.
"""
import math


def sigmoid_ce(F, x, t):
    """Element-wise sigmoid cross-entropy ``-t log s(x) - (1-t) log(1-s(x))``, stable."""
    return F.relu(x) - x * t + F.Activation(-F.abs(x), act_type="softrelu")


def cam_loss(F, logits, label):
    """Multi-label sigmoid CE summed over classes, per image (docs/method.md "Network", CAM).

    ``logits``: (N, C) = global average of fc8; ``label``: (N, C) in {0, 1}.
    """
    return F.sum(sigmoid_ce(F, logits, label), axis=1)


def single_class_mask(F, label):
    """(N, C) label rows of images with exactly one class, zero rows otherwise."""
    n_cls = F.sum(label, axis=1, keepdims=True)
    return F.broadcast_mul(label, n_cls == 1)


def bu_loss(F, s_hat, label, grad_scale=10.0, kind="bu", sign=None):
    """Bottom-up loss per image (docs/method.md "Network", BU and "Variants").

    ``bu``:  -(grad_scale/2) / (H*W) * sum_{k,c} y_c * S_hat_kc^2
    ``abs``: -(grad_scale/2) / (H*W) * sum_{k,c} y_c * |S_hat_kc|
    ``sig``: grad_scale/2 / (H*W) * sum_{k,c} y_c * CE(S_kc, S_kc > 0) with
    S = S_hat * sign (online pseudo-labels from the sign-flipped score; the
    reference gives only "online pseudo-labels + sigmoid loss", this is our reading).
    Only single-class images count; ``s_hat`` must already be cut from the
    features (BlockGrad) so the loss trains W only.
    """
    y = F.expand_dims(F.expand_dims(single_class_mask(F, label), axis=2), axis=3)
    if kind == "bu":
        per_pixel = -F.square(s_hat)
    elif kind == "abs":
        per_pixel = -F.abs(s_hat)
    elif kind == "sig":
        s = F.broadcast_mul(s_hat, F.reshape(sign, (1, -1, 1, 1)))
        per_pixel = sigmoid_ce(F, s, F.stop_gradient(s > 0))
    else:
        raise ValueError(f"unknown BU loss {kind!r}")
    per_map = F.mean(F.broadcast_mul(per_pixel, y), axis=(2, 3))  # sum over pixels / (H*W)
    return F.sum(per_map, axis=1) * (grad_scale / 2.0)


def normalise_signed(F, s, eps=1e-5):
    """Map a score to [-1, 1]: positive part / per-map max, negative part / per-map |min|.

    docs/method.md "Network", TD target (clamps 1e-5).
    """
    pos = F.relu(s)
    neg = F.relu(-s)
    pmax = F.maximum(F.max(pos, axis=(2, 3), keepdims=True), eps)
    nmax = F.maximum(F.max(neg, axis=(2, 3), keepdims=True), eps)
    return F.broadcast_div(pos, pmax) - F.broadcast_div(neg, nmax)


def td_loss(F, s_td, s_refined, label, threshold=0.2):
    """Top-down loss per image, before the warm-up weight (docs/method.md "Network", TD).

    Target from the refined BU score S': v = normalise_signed(S'), pixels with
    |v| > threshold count, target = v > 0. Sigmoid CE of S'' for present classes,
    summed over pixels / (H*W), summed over classes.
    """
    v = F.stop_gradient(normalise_signed(F, s_refined))
    mask = F.abs(v) > threshold
    target = v > 0
    ce = sigmoid_ce(F, s_td, target) * mask
    per_map = F.mean(ce, axis=(2, 3))
    return F.sum(per_map * label, axis=1)


def td_warmup_iters(warmup_epochs, num_samples, batch_size):
    """Length T of the L_td warm-up in iterations: ``int(warmup_epochs * num_samples) // batch_size``,
    the release's ``2 * num_sample // batch_size`` (661 on train_aug at batch 32; docs/method.md,
    "Top-down")."""
    return int(float(warmup_epochs) * int(num_samples)) // int(batch_size)


def td_warmup_weight(iteration, total):
    """Warm-up weight exp(-10 t/T) of L_td at 0-based ``iteration``; T = ``total`` iterations.

    t = max(T - iteration, 0) counts down, so the weight rises from exp(-10) ~ 4.5e-5 at
    iteration 0 to 1 from iteration T on (the release's counter starts at T and is
    decremented after each backward; docs/method.md, "Top-down").
    """
    total = float(total)
    if total <= 0:
        return 1.0
    t = max(total - float(iteration), 0.0)
    return math.exp(-10.0 * t / total)


# -- the segmentation stage (DeepLab on seeds, paper Tables 7-8) --

def seg_loss(F, logits, label, num_classes=21):
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


def label_at_output(label, out_shape, stride=8):
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
