"""Superpixel refinement of the BU score in native ops (docs/method.md, "Superpixel refinement").

No gradient flows through it. Superpixel one-hot maps, bilinearly resized to the
score resolution (align_corners=True, as the release does inside its network), are
soft memberships M (N, K, P) with P = h*w pixels. With S the sign-flipped BU score
and y the labels, as the release computes it:

1. S' = S * y (scores of absent classes are zeroed);
2. superpixel k is a foreground candidate if max_c sum_p M_kp sign(S'_cp) > 1e-5;
3. its class is the argmax over all classes (first index on ties) of the
   membership-weighted mean of max(S',0) / max_c' S'_c'p, the positive part divided by
   the maximum over classes **at the same pixel** (clamped at 1e-5), not by a per-map
   maximum; a foreground candidate whose winning class is absent stays background;
4. for its class a foreground superpixel takes the weighted mean of max(S',0);
   every other (class, superpixel) pair the weighted mean of min(S',0);
5. S''_cp = sum_k V_ck M_kp.

Weighted means divide by sum_p M_kp clamped at 1e-5. ``num_superpixels`` is the
one-hot depth K: ids >= K would get no membership, so the datasets refuse a map with
more than K - 1 superpixels (one id is kept for the padding) with a one-line error
naming the file; with every id below K the empty channels change nothing, which makes a
fixed K equal to the release's ``max id + 1``.
"""
EPS = 1e-5


def sampling_step(full, low):
    """``(sy, sx)`` when the align-corners resize from ``full`` (H, W) to ``low`` (h, w)
    samples whole pixels, i.e. (H - 1) = sy (h - 1) and (W - 1) = sx (w - 1) with integer
    steps (321 -> 41 and 161 -> 21 at stride 8); else ``None``."""
    steps = []
    for big, small in zip(full, low):
        if small < 2 or (big - 1) % (small - 1):
            return None
        steps.append((big - 1) // (small - 1))
    return tuple(steps)


def memberships(F, sp, like, num_superpixels, step=None):
    """Soft memberships (N, K, h, w) of superpixel ids ``sp`` (N, H, W) at ``like``'s size.

    The one-hot maps are built channel-first by one comparison with the ids 0..K-1 (ids
    >= K match none), the same 0/1 values as ``one_hot`` + ``transpose`` without the
    second full-resolution copy (at 321x321 batch 4 and K = 65, 107 MB each).

    ``step`` (:func:`sampling_step` of the two sizes): the resize's bilinear weights are
    then exactly 1 and 0, so the ids are sampled every ``step`` pixels before the
    comparison, giving the same floats without a full-resolution one-hot at all."""
    sp = F.cast(sp, "float32")
    if step is not None:
        sp = F.slice(sp, begin=(None, None, None), end=(None, None, None), step=(1,) + tuple(step))
    ids = F.reshape(F.arange(0, num_superpixels, dtype="float32"), (1, -1, 1, 1))
    onehot = F.broadcast_equal(F.expand_dims(sp, axis=1), ids)  # (N, K, H, W)
    if step is not None:
        return onehot
    return F.contrib.BilinearResize2D(onehot, like=like, mode="like", align_corners=True)


def refine(F, score, label, sp, num_superpixels, num_classes=20, sp_step=None):
    """Refined score (N, C, h, w) from ``score`` S (N, C, h, w), ``label`` (N, C), ``sp`` (N, H, W);
    ``sp_step`` as ``step`` of :func:`memberships` (the caller checks the sizes)."""
    score = F.stop_gradient(score)
    s = F.broadcast_mul(score, F.reshape(label, (0, 0, 1, 1)))         # step 1
    m = F.reshape(memberships(F, sp, s, num_superpixels, sp_step), (0, 0, -1))  # (N, K, P)
    flat = F.reshape(s, (0, 0, -1))                                    # (N, C, P)
    pos = F.relu(flat)
    pixel_max = F.maximum(F.max(flat, axis=1, keepdims=True), EPS)     # (N, 1, P), step 3
    # one batched product for the four weighted sums: (N, 4C, P) x (N, K, P)^T -> (N, 4C, K)
    stacked = F.concat(F.sign(flat), F.broadcast_div(pos, pixel_max), pos, flat - pos, dim=1)
    sums = F.batch_dot(stacked, m, transpose_b=True)
    votes, fg_score, pos_sum, neg_sum = F.split(sums, num_outputs=4, axis=1)
    area = F.maximum(F.sum(m, axis=2), EPS)                            # (N, K)
    area = F.expand_dims(area, axis=1)                                 # (N, 1, K)
    fg_any = F.max(votes, axis=1, keepdims=True) > EPS                 # step 2, (N, 1, K)
    winner = F.transpose(F.one_hot(F.argmax(fg_score, axis=1), depth=num_classes), axes=(0, 2, 1))
    fg = F.broadcast_mul(F.broadcast_mul(winner, fg_any), F.reshape(label, (0, 0, 1)))  # (N, C, K)
    v = F.broadcast_div(fg * pos_sum + (1 - fg) * neg_sum, area)       # step 4
    out = F.batch_dot(v, m)                                            # step 5, (N, C, P)
    return F.reshape_like(out, s)
