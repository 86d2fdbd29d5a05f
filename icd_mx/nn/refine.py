"""Superpixel refinement of the BU score in native ops (icd-reference.md "Network").

No gradient flows through it. Superpixel one-hot maps, bilinearly resized to the
score resolution (align_corners=True, as the release does inside its network), are
soft memberships M (N, K, h, w). With S the sign-flipped BU score and y the labels:

1. scores of absent classes are zeroed;
2. superpixel k is a foreground candidate if, for some present class c,
   sum_p M_kp sign(S_cp) > 1e-5;
3. its class is the argmax over present classes of the membership-weighted mean
   of max(S,0) / max_map(max(S,0));
4. for its class a foreground superpixel takes the weighted mean of max(S,0);
   every other (superpixel, class) pair the weighted mean of min(S,0);
5. S'_cp = sum_k M_kp V_kc.

Weighted means divide by sum_p M_kp clamped at 1e-5. Ties in step 3 go to the
lowest class index.
"""
from mxnet.gluon import nn
EPS = 1e-5


def memberships(F, sp, like, num_superpixels):
    """Soft memberships (N, K, h, w) of superpixel ids ``sp`` (N, H, W) at ``like``'s size."""
    onehot = F.one_hot(sp, depth=num_superpixels)  # (N, H, W, K); ids >= K give zero rows
    onehot = F.transpose(onehot, axes=(0, 3, 1, 2))
    return F.contrib.BilinearResize2D(onehot, like=like, mode="like", align_corners=True)


def refine(F, score, label, sp, num_superpixels, num_classes=20):
    """Refined score S' (N, C, h, w) from ``score`` S (N, C, h, w), ``label`` (N, C), ``sp`` (N, H, W)."""
    score = F.stop_gradient(score)
    y = F.reshape(label, (0, 0, 1, 1))
    s = F.broadcast_mul(score, y)                                      # step 1
    m = memberships(F, sp, s, num_superpixels)                         # (N, K, h, w)
    m = F.reshape(m, (0, 0, -1))                                       # (N, K, P)
    flat = F.reshape(s, (0, 0, -1))                                    # (N, C, P)
    area = F.maximum(F.sum(m, axis=2, keepdims=True), EPS)            # (N, K, 1)

    def wsum(x):  # (N, C, P) -> (N, K, C): sum_p M_kp x_cp
        return F.batch_dot(m, x, transpose_b=True)

    yk = F.expand_dims(label, axis=1)                                  # (N, 1, C)
    votes = wsum(F.sign(flat))
    fg = F.max(F.broadcast_mul(votes > EPS, yk), axis=2, keepdims=True)  # step 2, (N, K, 1)
    pos = F.relu(flat)
    pmax = F.maximum(F.max(pos, axis=2, keepdims=True), EPS)
    norm_mean = F.broadcast_div(wsum(F.broadcast_div(pos, pmax)), area)  # step 3
    masked = F.broadcast_add(F.broadcast_mul(norm_mean, yk), (yk - 1) * 1e9)
    cls = F.one_hot(F.argmax(masked, axis=2), depth=num_classes)        # (N, K, C)
    pos_mean = F.broadcast_div(wsum(pos), area)                         # step 4
    neg_mean = F.broadcast_div(wsum(-F.relu(-flat)), area)
    take_pos = F.broadcast_mul(cls, fg)
    v = take_pos * pos_mean + (1 - take_pos) * neg_mean                  # (N, K, C)
    out = F.batch_dot(v, m, transpose_a=True)                           # step 5, (N, C, P)
    return F.reshape_like(out, s)


class SuperpixelRefine(nn.HybridBlock):
    """HybridBlock wrapper of :func:`refine`: ``(score, label, sp) -> S'``."""

    def __init__(self, num_superpixels, num_classes=20, **kwargs):
        super().__init__(**kwargs)
        self.num_superpixels = num_superpixels
        self.num_classes = num_classes

    def hybrid_forward(self, F, score, label, sp):
        return refine(F, score, label, sp, self.num_superpixels, self.num_classes)
