"""Superpixels: Felzenszwalb-Huttenlocher segmentation, then feature-driven greedy
merging down to at most 64 regions (docs/method.md, "Superpixels").

The release ran the original FH C++ code with ``sigma=0.8, k=75, min_size=75`` and
merged with a Python loop. :func:`fh_segment` runs :mod:`icd_mx.fh`, which reproduces
the release's FH partitions and their id numbering exactly (smoothing, edge order,
join rule and small-component pass as the release; docs/method.md, "Superpixels").

Merging (docs/method.md, "Superpixels")::

    sim(i, j) = cos(f_i, f_j) + 1 - (size_i + size_j) / (H * W)

The most similar pair over all pairs (or adjacent pairs, ``adjacent_only``) is merged,
the merged feature being the size-weighted mean, until at most ``max_regions`` remain.
Ties: the lexicographically smallest pair ``(i, j), i < j`` wins (the first maximum
of the similarity matrix in row-major order, which is what ``np.argmax`` on the
release's matrix picks); ``i`` survives. :func:`merge_reference` is the release's
loop written out plainly; :func:`merge_fast` keeps the similarity matrix plus a
per-row best and updates only what a merge changes. Both evaluate similarities
through the same float64 expressions, so they perform identical merges.
"""
import os

import numpy as np

from .data.transforms import reindex

_EPS = 1e-12


def fh_segment(img_rgb, sigma=0.8, k=75.0, min_size=75):
    """FH superpixels of an HxWx3 uint8 RGB image as the release computed them: HxW int32 ids
    numbered by first appearance (:func:`icd_mx.fh.fh_segment`; docs/method.md, "Superpixels")."""
    from . import fh

    return fh.fh_segment(img_rgb, sigma, k, min_size)


def region_features(sp, feature_map):
    """Mean feature per superpixel.

    Parameters
    ----------
    sp : ndarray
        HxW int ids 0..n-1.
    feature_map : ndarray
        (C, H, W) float features.

    Returns
    -------
    feats : ndarray
        (n, C) float64 means.
    sizes : ndarray
        (n,) int64 pixel counts.
    """
    n = int(sp.max()) + 1
    flat = sp.ravel()
    sizes = np.bincount(flat, minlength=n).astype(np.int64)
    feature_map = np.asarray(feature_map)
    c = feature_map.shape[0]
    feats = np.zeros((n, c), np.float64)
    for ch in range(c):  # per channel: bincount takes the weights as float64 one channel at a time,
        # so no float64 copy of the whole map (about 1 GB for 512 channels at 513)
        feats[:, ch] = np.bincount(flat, weights=feature_map[ch].ravel(), minlength=n)
    feats /= np.maximum(sizes, 1)[:, None]
    return feats, sizes


def adjacency(sp):
    """(n, n) bool matrix of 4-connected neighbouring superpixels."""
    n = int(sp.max()) + 1
    adj = np.zeros((n, n), bool)
    for a, b in ((sp[:, :-1], sp[:, 1:]), (sp[:-1, :], sp[1:, :])):
        m = a != b
        adj[a[m], b[m]] = True
        adj[b[m], a[m]] = True
    return adj


# -- the shared similarity expressions (identical floats in both implementations) --

def _norms(feats):
    return np.sqrt(np.sum(feats * feats, axis=-1))


def _similarity(dots, ni, nk, si, sk, hw):
    """sim = cos + 1 - (s_i + s_k) / hw, elementwise in float64."""
    cos = dots / np.maximum(ni * nk, _EPS)
    return cos + (1.0 - (si + sk) / hw)


def _merged_feature(fi, fj, si, sj):
    total = si + sj
    return fi * (si / total) + fj * (sj / total)


def _labels_from_parent(sp, parent, alive):
    """Final ids: every original region follows ``parent`` to its survivor; survivors
    are numbered in increasing index order (the release's re-indexing)."""
    n = parent.size
    root = np.arange(n)
    for _ in range(n):
        nxt = parent[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    new_id = np.cumsum(alive) - 1
    return new_id[root][sp].astype(np.int32)


def merge_reference(sp, feats, sizes, max_regions=64, adjacent_only=False):
    """The release's greedy merge loop, written plainly (slow; for tests/benchmarks).

    A full similarity matrix with -inf on the diagonal; each step takes the first
    maximum (row-major), merges ``j`` into ``i`` via per-pixel membership rows, and
    recomputes row/column ``i`` one pair at a time in Python.

    Parameters
    ----------
    sp : ndarray
        HxW int ids 0..n-1.
    feats : ndarray
        (n, C) region features.
    sizes : ndarray
        (n,) region sizes in pixels.
    max_regions : int
        Stop when at most this many regions remain.
    adjacent_only : bool
        Merge only 4-connected neighbours (the paper's wording).

    Returns
    -------
    ndarray
        HxW int32 merged ids 0..m-1.
    """
    h, w = sp.shape
    hw = float(h * w)
    n = feats.shape[0]
    feats = np.array(feats, np.float64)
    sizes = np.array(sizes, np.float64)
    member = np.zeros((n, h * w), bool)
    member[sp.ravel(), np.arange(h * w)] = True
    adj = adjacency(sp) if adjacent_only else None

    def sim(i, k):
        if adj is not None and not adj[i, k]:
            return -np.inf
        ni, nk = _norms(feats[i]), _norms(feats[k])
        return _similarity(np.sum(feats[i] * feats[k]), ni, nk, sizes[i], sizes[k], hw)

    mat = np.full((n, n), -np.inf)
    for i in range(n):
        for k in range(i + 1, n):
            mat[i, k] = mat[k, i] = sim(i, k)
    alive = member.max(axis=1)
    while alive.sum() > max_regions:
        i, j = np.unravel_index(mat.argmax(), mat.shape)
        if not np.isfinite(mat[i, j]):
            break  # adjacent_only: no neighbouring pair left
        i, j = min(i, j), max(i, j)
        member[i] |= member[j]
        member[j] = False
        feats[i] = _merged_feature(feats[i], feats[j], sizes[i], sizes[j])
        sizes[i] += sizes[j]
        if adj is not None:
            adj[i] |= adj[j]
            adj[:, i] |= adj[:, j]
            adj[i, i] = False
        alive = member.max(axis=1)
        for k in range(n):
            mat[j, k] = mat[k, j] = -np.inf
            if alive[k] and k != i:
                mat[i, k] = mat[k, i] = sim(i, k)
    merged = member.argmax(axis=0).reshape(h, w)
    return reindex(merged)


def merge_fast(sp, feats, sizes, max_regions=64, adjacent_only=False):
    """Vectorised greedy merging with incremental updates; same merges as
    :func:`merge_reference` (same parameters and return value)."""
    h, w = sp.shape
    hw = float(h * w)
    n = feats.shape[0]
    feats = np.array(feats, np.float64)
    sizes = np.array(sizes, np.float64)
    norms = _norms(feats)
    alive = np.ones(n, bool)
    parent = np.arange(n)
    if n <= max_regions:
        return _labels_from_parent(sp, parent, alive)
    adj = adjacency(sp) if adjacent_only else None
    mat = np.full((n, n), -np.inf)
    for i in range(n - 1):  # upper triangle row by row: the same 1-D reductions as the reference
        k = slice(i + 1, n)
        mat[i, k] = _similarity(np.sum(feats[k] * feats[i], axis=1), norms[i], norms[k], sizes[i], sizes[k], hw)
    iu = np.triu_indices(n, 1)
    mat[(iu[1], iu[0])] = mat[iu]  # the reference mirrors the i < k value
    if adj is not None:
        mat[~adj] = -np.inf
    best = mat.argmax(axis=1)
    best_val = mat[np.arange(n), best]
    count = n
    while count > max_regions:
        i = int(best_val.argmax())
        if not np.isfinite(best_val[i]):
            break
        j = int(best[i])  # i < j: the first maximum of a symmetric matrix
        feats[i] = _merged_feature(feats[i], feats[j], sizes[i], sizes[j])
        sizes[i] += sizes[j]
        norms[i] = _norms(feats[i])
        alive[j] = False
        parent[j] = i
        count -= 1
        mat[j, :] = -np.inf
        mat[:, j] = -np.inf
        best_val[j] = -np.inf
        others = np.flatnonzero(alive)
        others = others[others != i]
        row = np.full(n, -np.inf)
        row[others] = _similarity(np.sum(feats[others] * feats[i], axis=1), norms[i], norms[others],
                                  sizes[i], sizes[others], hw)
        if adj is not None:
            adj[i] |= adj[j]
            adj[:, i] |= adj[:, j]
            adj[i, i] = False
            row[~adj[i]] = -np.inf
        mat[i, :] = row
        mat[:, i] = row
        # rows whose best was i or j: rescan; others: only column i changed
        stale = alive & ((best == i) | (best == j))
        stale[i] = True
        fresh = alive & ~stale
        better = fresh & ((row > best_val) | ((row == best_val) & (i < best)))
        best[better] = i
        best_val[better] = row[better]
        rows = np.flatnonzero(stale)
        if rows.size:
            best[rows] = mat[rows].argmax(axis=1)
            best_val[rows] = mat[rows, best[rows]]
    return _labels_from_parent(sp, parent, alive)


def merge_superpixels(sp, feature_map, max_regions=64, adjacent_only=False):
    """Region features from a dense map, then :func:`merge_fast`.

    Parameters
    ----------
    sp : ndarray
        HxW int ids (any values; relabelled first).
    feature_map : ndarray
        (C, H, W) features at image resolution.

    Returns
    -------
    ndarray
        HxW int32 ids 0..m-1, m <= max_regions.
    """
    sp = reindex(sp)
    feats, sizes = region_features(sp, feature_map)
    return merge_fast(sp, feats, sizes, max_regions, adjacent_only)


def color_features(img_rgb):
    """A CPU stand-in for VGG features: per pixel RGB and (y, x), each scaled to
    [-1, 1] (centred, so cosines discriminate). Not the paper's features: the
    paper uses ImageNet VGG16 conv5_3 (docs/method.md, "Superpixels").

    Returns
    -------
    ndarray
        (5, H, W) float32.
    """
    h, w = img_rgb.shape[:2]
    rgb = img_rgb.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    yy, xx = np.meshgrid(np.linspace(-1, 1, h, dtype=np.float32), np.linspace(-1, 1, w, dtype=np.float32),
                         indexing="ij")
    return np.concatenate([rgb, yy[None], xx[None]], axis=0)


def make_superpixels(img_rgb, features, cfg):
    """FH then merging for one image.

    Parameters
    ----------
    img_rgb : ndarray
        HxWx3 uint8 RGB.
    features : callable
        ``features(img_rgb) -> (C, H, W)`` float array at image resolution.
    cfg : SuperpixelConfig
        ``sigma, k, min_size, max_regions, adjacent_only``.

    Returns
    -------
    ndarray
        HxW int32 merged ids.
    """
    return make_superpixels_batch([img_rgb], features, cfg)[0]


def make_superpixels_batch(images, features, cfg):
    """:func:`make_superpixels` for several images, their features in one batch when
    ``features`` has a ``batch`` method (:class:`VGGFeatures` on a GPU)."""
    sps = [fh_segment(img, cfg.sigma, cfg.k, cfg.min_size) for img in images]
    fmaps = features.batch(images) if hasattr(features, "batch") else [features(img) for img in images]
    out = []
    for sp, fmap in zip(sps, fmaps):
        if fmap.shape[1:] != sp.shape:
            raise ValueError(f"feature map {fmap.shape} does not match image {sp.shape}")
        out.append(merge_superpixels(sp, fmap, cfg.max_regions, cfg.adjacent_only))
    return out


class VGGFeatures:
    """``features(img)`` from ImageNet VGG16 conv5_3 as the release did: the raw RGB 0..255
    image (no mean subtracted, unlike the ICD graph) at the top-left of a ``size x size``
    canvas padded with 127, conv5_3 bilinearly resized (align_corners, MXNet's default) to
    ``size`` and cropped (docs/method.md, "Superpixels").

    ``device``: a GPU id, or None for the CPU (set per worker process by
    :func:`icd_mx.stages.superpixels.run_superpixels`). :meth:`batch` runs images of one canvas size as one batch.
    MXNet loads lazily (once per worker process)."""

    def __init__(self, params, width=1.0, size=513, device=None):
        self.params, self.width, self.size, self.device = params, width, size, device
        self.net = None

    def __getstate__(self):  # workers load their own copy on their own device
        return dict(self.__dict__, net=None)

    def context(self):
        import mxnet as mx

        return mx.cpu() if self.device is None else mx.gpu(int(self.device))

    def __call__(self, img_rgb):
        return self.batch([img_rgb])[0]

    def batch(self, images):
        """Feature maps of several HxWx3 uint8 images: a list of (C, H, W) float32 arrays."""
        import mxnet as mx

        ctx = self.context()
        if self.net is None:
            from .compat.release import load_backbone

            self.net = load_backbone(self.params, self.width, ctx, mean=0.0)
            self.net.hybridize()
        out = [None] * len(images)
        sizes = [max(self.size, *img.shape[:2]) for img in images]
        for size in sorted(set(sizes)):
            idx = [i for i, s in enumerate(sizes) if s == size]
            canvas = np.full((len(idx), size, size, 3), 127, np.float32)
            for row, i in enumerate(idx):
                h, w = images[i].shape[:2]
                canvas[row, :h, :w] = images[i]
            x = mx.nd.array(canvas.transpose(0, 3, 1, 2), ctx=ctx)
            conv5 = self.net(x)[1]
            for row, i in enumerate(idx):  # one upsampled map at a time: 512 x size^2 floats each
                h, w = images[i].shape[:2]
                up = mx.nd.contrib.BilinearResize2D(conv5[row:row + 1], height=size, width=size)
                out[i] = up[0, :, :h, :w].asnumpy()
        return out


def feature_source(cfg):
    """The configured ``features`` callable; refuses VGG without a params file, and
    ``superpixels.gpus`` that the MXNet build or the machine lacks (the CPU only when
    ``superpixels.gpus`` is empty).

    Parameters
    ----------
    cfg : SuperpixelConfig
    """
    from .errors import InputError

    if cfg.features == "color":
        return color_features
    if not cfg.feature_params:
        raise InputError("superpixels.feature_params", "no ImageNet VGG16 params given (the paper merges on "
                         "ImageNet VGG16 conv5_3); set it, or superpixels.features=color for the CPU demo")

    if not os.path.isfile(cfg.feature_params):
        raise InputError(cfg.feature_params, "feature params file not found")
    if cfg.gpus:
        from .env import require_gpus

        require_gpus(cfg.gpus, "superpixels.gpus")
    return VGGFeatures(cfg.feature_params, cfg.feature_width, cfg.feature_size)
