"""Slow, obvious numpy reference code written from docs/method.md "Network"."""
import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_ce(x, t):
    s = sigmoid(x.astype(np.float64))
    return -(t * np.log(s) + (1 - t) * np.log(1 - s))


def cam_loss_mean(cam_map, y):
    logits = cam_map.mean(axis=(2, 3))
    return sigmoid_ce(logits, y).sum(axis=1).mean()


def l2_rows(w):
    return w / np.sqrt((w ** 2).sum(axis=1, keepdims=True))


def bu_score(feat, w):
    """S_hat[n, c, h, w] = sum_f feat[n, f, h, w] * normalised W[c, f]."""
    return np.einsum("nfhw,cf->nchw", feat.astype(np.float64), l2_rows(w.astype(np.float64)))


def bu_loss(s_hat, y, grad_scale=10.0, kind="bu", sign=None):
    """Batch value: -(gs/2) * 1/(N*H*W) * sum_{n,k,c} y_nc S^2, single-class images only."""
    n, c, h, w = s_hat.shape
    total = 0.0
    for i in range(n):
        if y[i].sum() != 1:
            continue
        for k in range(c):
            if y[i, k] == 0:
                continue
            for p in s_hat[i, k].ravel():
                if kind == "bu":
                    total += -(grad_scale / 2) * p * p
                elif kind == "abs":
                    total += -(grad_scale / 2) * abs(p)
                else:
                    s = p * sign[k]
                    total += (grad_scale / 2) * sigmoid_ce(np.array(s), float(s > 0))
    return total / (n * h * w)


def batchnorm_train(x, beta, eps=1e-5):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps) + beta.reshape(1, -1, 1, 1), mean.ravel(), var.ravel()


def signflip_batch(cam, s_hat, y):
    """Per-class batch mean of per-image positive/negative-side mean CAM; (C, 2) and presence (C,)."""
    n, c = y.shape
    batch = np.zeros((c, 2))
    present = np.zeros(c, bool)
    for k in range(c):
        vals = []
        for i in range(n):
            if y[i, k] == 0:
                continue
            cm = np.maximum(cam[i, k], 0)
            pos, neg = s_hat[i, k] > 0, s_hat[i, k] < 0
            vals.append([(cm * pos).sum() / max(pos.sum(), 1e-5), (cm * neg).sum() / max(neg.sum(), 1e-5)])
        if vals:
            present[k] = True
            batch[k] = np.mean(vals, axis=0)
    return batch, present


def signflip_update(state, batch, present, momentum=0.9):
    new = state.copy()
    for k in range(len(state)):
        if present[k]:
            new[k] = momentum * state[k] + (1 - momentum) * batch[k]
    sign = np.array([1.0 if new[k, 0] >= new[k, 1] else -1.0 for k in range(len(state))])
    return new, sign


def bilinear_align_corners(x, oh, ow):
    """Resize (..., H, W) to (oh, ow), align_corners=True."""
    h, w = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        fy = i * (h - 1) / (oh - 1) if oh > 1 else 0.0
        y0 = int(np.floor(fy))
        y1 = min(y0 + 1, h - 1)
        dy = fy - y0
        for j in range(ow):
            fx = j * (w - 1) / (ow - 1) if ow > 1 else 0.0
            x0 = int(np.floor(fx))
            x1 = min(x0 + 1, w - 1)
            dx = fx - x0
            out[..., i, j] = ((1 - dy) * (1 - dx) * x[..., y0, x0] + (1 - dy) * dx * x[..., y0, x1]
                              + dy * (1 - dx) * x[..., y1, x0] + dy * dx * x[..., y1, x1])
    return out


def refine(s, y, sp, k_max):
    """Superpixel refinement, one image at a time, loops over superpixels and classes."""
    n, c, h, w = s.shape
    out = np.zeros_like(s, dtype=np.float64)
    for i in range(n):
        present = [k for k in range(c) if y[i, k] > 0]
        si = s[i] * y[i][:, None, None]
        onehot = np.stack([(sp[i] == j).astype(np.float64) for j in range(k_max)])
        m = bilinear_align_corners(onehot, h, w)
        pos = np.maximum(si, 0)
        neg = np.minimum(si, 0)
        pixel_max = np.maximum(si.max(axis=0), 1e-5)  # over classes, at each pixel (the release)
        for j in range(k_max):
            area = max(m[j].sum(), 1e-5)
            fg = any((m[j] * np.sign(si[k])).sum() > 1e-5 for k in present)
            best, best_val = None, -np.inf
            for k in range(c):  # every class; the first wins a tie
                val = (m[j] * pos[k] / pixel_max).sum() / area
                if val > best_val:
                    best, best_val = k, val
            for k in range(c):
                if fg and k == best and k in present:
                    v = (m[j] * pos[k]).sum() / area
                else:
                    v = (m[j] * neg[k]).sum() / area
                out[i, k] += v * m[j]
    return out


def td_target(s_ref, threshold=0.2):
    n, c = s_ref.shape[:2]
    v = np.zeros_like(s_ref, dtype=np.float64)
    for i in range(n):
        for k in range(c):
            pos = np.maximum(s_ref[i, k], 0)
            neg = np.maximum(-s_ref[i, k], 0)
            v[i, k] = pos / max(pos.max(), 1e-5) - neg / max(neg.max(), 1e-5)
    return np.abs(v) > threshold, v > 0


def td_loss_mean(s_td, s_ref, y, threshold=0.2):
    mask, target = td_target(s_ref, threshold)
    n, c, h, w = s_td.shape
    total = 0.0
    for i in range(n):
        for k in range(c):
            if y[i, k]:
                total += (sigmoid_ce(s_td[i, k], target[i, k]) * mask[i, k]).sum() / (h * w)
    return total / n
