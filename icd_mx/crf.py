"""Dense CRF (pydensecrf) for seed refinement and segmentation post-processing.

Seed refinement follows the release (docs/method.md, "Seeds"):
21 labels; unary ``-log p`` with ``p = confidence`` (0.5) on the seed label and
``(1 - confidence) / 21`` = 0.0238 on each other label (the release's constant; ``rest``
overrides it), normalised per pixel, uniform where the seed is 255; Gaussian ``sxy=3,
compat=3``; bilateral ``sxy=80, srgb=13, compat=10`` on the RGB image; 10 iterations;
argmax; pixels whose (normalised) max probability is < 0.1 become 255.

Speed without changing the result: every label that no seed pixel carries has the same
unary at every pixel (``rest``, or 1/21 where the seed is 255), so by symmetry their
mean-field marginals stay equal through every iteration. :func:`crf_refine_seed` runs
them as one label of multiplicity ``m``: unary ``U - log m`` (so its softmax term is
``m`` copies' worth) and pairwise weight ``compat / m`` on its own marginal (so its
message is one copy's). The CRF then carries 2-4 labels instead of 21 on a VOC image, and
the argmax (ties to the lowest label, as numpy's over 21) and the 0.1 rule see the same
per-label probabilities. ``collapse=False`` runs the 21-label CRF as the release does;
tests/test_crf.py checks both give the same seeds.
"""
import numpy as np

NUM_LABELS = 21


def seed_unary_probs(seed, num_labels=NUM_LABELS, confidence=0.5, rest=None):
    """Per-pixel label probabilities built from a seed map (before the log).

    Parameters
    ----------
    seed : ndarray
        HxW uint8 labels (0..num_labels-1, 255 undefined).
    confidence : float
        Probability mass put on the seed label before normalisation.
    rest : float or None
        Mass on each other label; default ``(1 - confidence) / num_labels`` (0.0238 for 21
        labels: the release's ``(1 - confidence) / num_cls``).

    Returns
    -------
    ndarray
        (num_labels, H*W) float32, columns summing to 1.
    """
    if rest is None:
        rest = (1.0 - confidence) / num_labels
    flat = seed.ravel().astype(np.int64)
    prob = np.full((num_labels, flat.size), rest, np.float32)
    valid = flat < num_labels
    prob[flat[valid], np.flatnonzero(valid)] = confidence
    prob /= prob.sum(axis=0, keepdims=True)
    return prob


def dense_crf(rgb, probs, iterations=10, gauss_sxy=3, gauss_compat=3, bi_sxy=80, bi_srgb=13, bi_compat=10,
              multiplicity=None):
    """Mean-field dense CRF with a Gaussian and a bilateral kernel.

    Parameters
    ----------
    rgb : ndarray
        HxWx3 uint8 RGB image.
    probs : ndarray
        (L, H, W) or (L, H*W) probabilities; the unary is ``-log(max(p, 1e-5))``.
    multiplicity : ndarray or None
        (L,) count of identical labels each row stands for (module docstring): unary
        ``U - log m``, Potts weights ``compat / m``, and the posterior of one copy returned.

    Returns
    -------
    ndarray
        (L, H, W) float32 posterior, normalised over labels (copies counted ``m`` times).
    """
    import pydensecrf.densecrf as dcrf

    h, w = rgb.shape[:2]
    n_labels = probs.shape[0]
    p = np.asarray(probs, np.float32).reshape(n_labels, h * w)
    unary = -np.log(np.maximum(p, 1e-5))
    if multiplicity is not None:
        m = np.asarray(multiplicity, np.float32)
        unary = unary - np.log(m)[:, None]
        # a 1-D compat is pydensecrf's diagonal compatibility (out = diag(c) Q); -c is Potts c
        gauss_compat, bi_compat = ((-c / m).astype(np.float32) for c in (gauss_compat, bi_compat))
    d = dcrf.DenseCRF2D(w, h, n_labels)
    d.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    d.addPairwiseGaussian(sxy=gauss_sxy, compat=gauss_compat)
    d.addPairwiseBilateral(sxy=bi_sxy, srgb=bi_srgb, rgbim=np.ascontiguousarray(rgb, dtype=np.uint8),
                           compat=bi_compat)
    q = np.array(d.inference(iterations), np.float32).reshape(n_labels, h, w)
    q /= q.sum(axis=0, keepdims=True)
    if multiplicity is not None:
        q /= m[:, None, None]
    return q


def _refine_collapsed(rgb, seed, confidence, min_prob, iterations, rest):
    """:func:`crf_refine_seed` with the labels absent from ``seed`` run as one (module docstring)."""
    probs = seed_unary_probs(seed, NUM_LABELS, confidence, rest)
    present = np.unique(seed)
    present = present[present < NUM_LABELS].astype(np.int64)
    absent = np.setdiff1d(np.arange(NUM_LABELS), present)
    keep = np.sort(np.concatenate([present, absent[:1]]))  # ascending: numpy's argmax tie-break
    mult = np.ones(keep.size, np.float32)
    if absent.size:
        mult[np.searchsorted(keep, absent[0])] = absent.size
    q = dense_crf(rgb, probs[keep], iterations, multiplicity=mult)
    out = keep[q.argmax(axis=0)].astype(np.uint8)
    out[q.max(axis=0) < min_prob] = 255
    return out


def crf_refine_seed(rgb, seed, confidence=0.5, min_prob=0.1, iterations=10, rest=None, collapse=True):
    """Refine a seed map with the release's CRF; low-confidence pixels -> 255.

    Parameters
    ----------
    rgb : ndarray
        HxWx3 uint8 RGB image.
    seed : ndarray
        HxW uint8 seed (0..20, 255).
    rest : float or None
        Unary mass on each other label (see :func:`seed_unary_probs`).
    collapse : bool
        Run the labels absent from ``seed`` as one (same seeds, about 2x cheaper; module
        docstring); False runs all 21 as the release does.

    Returns
    -------
    ndarray
        HxW uint8 refined seed.
    """
    if collapse:
        return _refine_collapsed(rgb, seed, confidence, min_prob, iterations, rest)
    q = dense_crf(rgb, seed_unary_probs(seed, NUM_LABELS, confidence, rest), iterations)
    out = q.argmax(axis=0).astype(np.uint8)
    out[q.max(axis=0) < min_prob] = 255
    return out
