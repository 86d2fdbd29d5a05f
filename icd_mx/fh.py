"""Felzenszwalb-Huttenlocher graph segmentation as the release ran it (docs/method.md,
"Superpixels"; Felzenszwalb & Huttenlocher, IJCV 2004), bit-exact.

:func:`fh_fast` runs the C++ extension ``icd_mx._fh`` (built by ``pip install -e .``);
:func:`fh_reference` is the same algorithm written plainly in numpy/Python (slow; the spec,
the tests' oracle, and the fallback when the extension was not built). The steps:

1. **Input**: an 8-bit RGB image (the release read JPEGs with OpenCV and handed the FH code
   the red, green and blue planes as floats 0..255).
2. **Smoothing**: each channel with a float32 Gaussian of half-width ``ceil(4 sigma)``,
   normalised to sum 1, rows first, then columns, edge pixels repeated (clamped); per pixel
   the centre tap first, then ``tap[t] * (left + right)`` for ``t = 1, 2, ...``.
3. **Graph**: per pixel in raster order the edges to the right, down, down-right and
   up-right neighbours (8-connectivity, each pair once), weight
   ``sqrt((dr*dr + dg*dg) + db*db)`` in float32.
4. **Order**: edges sorted by weight with C++ ``std::sort``, which is not stable: edges
   of equal weight keep no fixed order, only the one libstdc++'s introsort leaves. That
   order changes partitions (a stable sort differs on images with many equal weights), so
   the extension sorts with the same ``std::sort`` and the same comparison (weight only)
   on the same sequence, which reproduces it; :func:`sort_order` exposes the permutation.
5. **Join rule**: in that order, components ``A != B`` merge when
   ``w <= tau(A) and w <= tau(B)``; ``tau = k`` for a single pixel and ``w + k / |C|``
   (float32) for the component ``C`` a merge just made.
6. **Small components**: a second pass over the same order merges ``A != B`` when
   ``|A| < min_size or |B| < min_size``.
7. **Ids**: 0, 1, ... by the first pixel of each component in raster order, as the
   release's ``segment`` numbers them (and writes them to PNG, read back unchanged).

The release called it with ``sigma=0.8, k=75, min_size=75`` (``min_size`` was ``k``).
"""
import os
import warnings

import numpy as np

try:
    from . import _fh
except ImportError:  # not built (no C++ compiler at install time)
    _fh = None

_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (-1, 1))  # (dy, dx): right, down, down-right, up-right


def as_rgb8(img):
    """HxWx3 C-contiguous uint8 from an 8-bit image (HxW grey is repeated into 3 channels,
    as OpenCV's colour read of a grey JPEG does); other values are refused."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 (or HxW) image, got shape {img.shape}")
    if img.dtype != np.uint8:
        if img.size and (np.any(img != np.round(img)) or img.min() < 0 or img.max() > 255):
            raise ValueError("FH works on 8-bit images: values must be integers in 0..255")
        img = img.astype(np.uint8)
    return np.ascontiguousarray(img)


def fh_fast(img_rgb, sigma=0.8, k=75.0, min_size=75):
    """FH with the C++ extension.

    Parameters
    ----------
    img_rgb : ndarray
        HxWx3 uint8 RGB image.
    sigma, k, min_size : float, float, int
        Smoothing, threshold constant, minimum component size.

    Returns
    -------
    ndarray
        HxW int32 ids 0..n-1, numbered by first appearance in raster order.
    """
    if _fh is None:
        raise ImportError("icd_mx._fh is not built: run `pip install -e .` (needs a C++ compiler)")
    img = as_rgb8(img_rgb)
    h, w = img.shape[:2]
    labels = np.empty((h, w), np.int32)
    if labels.size:
        _fh.segment(img, h, w, float(sigma), float(k), int(min_size), labels)
    return labels


def fh_segment(img_rgb, sigma=0.8, k=75.0, min_size=75):
    """:func:`fh_fast`, or :func:`fh_reference` (with a warning) when the extension is missing."""
    if _fh is not None:
        return fh_fast(img_rgb, sigma, k, min_size)
    warnings.warn("icd_mx._fh is not built (run `pip install -e .`): using the slow pure-Python FH, "
                  "whose order of equal-weight edges is a stable sort, not the release's std::sort",
                  RuntimeWarning, stacklevel=2)
    return fh_reference(img_rgb, sigma, k, min_size)


def implementation():
    """``"release"`` (the C++ extension: the release's partitions) or ``"python-stable-sort"``
    (the fallback, whose order of equal-weight edges differs)."""
    return "release" if _fh is not None else "python-stable-sort"


def sort_order(weights):
    """The permutation C++ ``std::sort`` by weight applies to ``weights`` (float32), from the
    extension; a stable argsort (equal weights in input order) without it."""
    weights = np.ascontiguousarray(weights, np.float32)
    if _fh is None:
        return np.argsort(weights, kind="stable")
    order = np.empty(weights.size, np.int32)
    _fh.sort_order(weights, order)
    return order.astype(np.int64)


# -- the plain reference ------------------------------------------------------------------

def gaussian_taps(sigma):
    """Centre and one-sided taps (float32) of the normalised Gaussian, half-width ceil(4 sigma)."""
    sigma = max(np.float32(sigma), np.float32(0.01))
    n = int(np.ceil(float(sigma) * 4.0)) + 1
    taps = np.array([np.exp(-0.5 * float(np.square(np.float32(t) / sigma))) for t in range(n)], np.float32)
    side = np.float32(0.0)
    for t in range(1, n):
        side = np.float32(side + taps[t])
    return taps / np.float32(np.float32(2.0) * side + taps[0])


def _smooth_rows(plane, taps):
    """Clamped 1-D convolution along axis 1, accumulated tap by tap in float32."""
    w = plane.shape[1]
    x = np.arange(w)
    acc = taps[0] * plane
    for t in range(1, taps.size):
        acc = acc + taps[t] * (plane[:, np.maximum(x - t, 0)] + plane[:, np.minimum(x + t, w - 1)])
    return acc


def smooth(plane, sigma):
    """One channel smoothed: rows, then columns (float32)."""
    taps = gaussian_taps(sigma)
    rows = _smooth_rows(np.asarray(plane, np.float32), taps)
    return _smooth_rows(rows.T, taps).T


def graph(img_rgb, sigma):
    """The release's edge list in its enumeration order.

    Returns
    -------
    a, b : ndarray
        (E,) int64 flat pixel indices (``a`` the pixel, ``b`` its neighbour).
    weight : ndarray
        (E,) float32 colour distances of the smoothed image.
    """
    img = as_rgb8(img_rgb)
    h, w = img.shape[:2]
    planes = [smooth(img[:, :, c], sigma).ravel() for c in range(3)]
    idx = np.arange(h * w).reshape(h, w)
    a, slot, b = [], [], []
    for s, (dy, dx) in enumerate(_DIRECTIONS):
        ys = slice(max(0, -dy), h - max(0, dy))
        src = idx[ys, : w - dx]
        a.append(src.ravel())
        b.append((src + dy * w + dx).ravel())
        slot.append(np.full(src.size, s))
    a, b, slot = np.concatenate(a), np.concatenate(b), np.concatenate(slot)
    enum = np.lexsort((slot, a))  # pixel by pixel, each pixel's edges in _DIRECTIONS order
    a, b = a[enum], b[enum]
    d = [p[a] - p[b] for p in planes]
    weight = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    return a, b, weight.astype(np.float32)


def fh_reference(img_rgb, sigma=0.8, k=75.0, min_size=75, order=sort_order):
    """FH written plainly (a Python loop over the edges; slow).

    Parameters
    ----------
    img_rgb, sigma, k, min_size
        As :func:`fh_fast`.
    order : callable
        ``order(weights) -> permutation`` that sorts the edges; :func:`sort_order` is the
        release's.

    Returns
    -------
    ndarray
        HxW int32 ids, as :func:`fh_fast`.
    """
    img = as_rgb8(img_rgb)
    h, w = img.shape[:2]
    if h * w == 0:
        return np.empty((h, w), np.int32)
    a, b, weight = graph(img, sigma)
    perm = order(weight)
    k = np.float32(k)
    comp = list(range(h * w))  # comp[p]: p's component (a representative pixel)
    members = {p: [p] for p in range(h * w)}
    tau = {p: k for p in range(h * w)}

    def merge(ca, cb):
        keep, gone = (ca, cb) if len(members[ca]) >= len(members[cb]) else (cb, ca)
        for p in members[gone]:
            comp[p] = keep
        members[keep] += members.pop(gone)
        return keep

    for e in perm:
        ca, cb, we = comp[a[e]], comp[b[e]], weight[e]
        if ca != cb and we <= tau[ca] and we <= tau[cb]:
            c = merge(ca, cb)
            tau[c] = np.float32(we + np.float32(k / np.float32(len(members[c]))))
    for e in perm:
        ca, cb = comp[a[e]], comp[b[e]]
        if ca != cb and (len(members[ca]) < min_size or len(members[cb]) < min_size):
            merge(ca, cb)
    comp = np.array(comp, np.int64)
    _, first, inverse = np.unique(comp, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int32)
    rank[np.argsort(first)] = np.arange(first.size, dtype=np.int32)
    return rank[inverse].reshape(h, w)


def release_binary_segment(binary, images, k=75.0, workdir=None):
    """Partitions from the release's own ``makeSuperpixel`` binary (for checks and
    benchmarks; never needed by the pipeline).

    Its command line is ``makeSuperpixel LIST IMAGE_DIR TARGET_DIR K``: it reads
    ``IMAGE_DIR/<name>.jpg`` with OpenCV (which goes by the content, so a lossless PNG stored
    under that name is read exactly), segments with ``sigma=0.8, k=K, min_size=int(K)`` and
    writes ``TARGET_DIR/<name>.png`` with the id as ``B + 256 G + 65536 R``.

    Parameters
    ----------
    binary : str
        Path of the built ``makeSuperpixel``.
    images : list of ndarray
        HxWx3 uint8 RGB images.
    k : float
        FH ``k`` (and ``min_size = int(k)``).
    workdir : str, optional
        Scratch directory (a temporary one by default).

    Returns
    -------
    ids : list of ndarray
        HxW int32 ids per image.
    seconds : float
        Wall time of the binary's run (all images, including its image reading/writing).
    """
    import subprocess
    import tempfile
    import time

    import cv2

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        src, dst = os.path.join(tmp, "images"), os.path.join(tmp, "out")
        os.makedirs(src)
        names = [f"im{i:04d}" for i in range(len(images))]
        for name, img in zip(names, images):
            ok, png = cv2.imencode(".png", as_rgb8(img)[:, :, ::-1])
            with open(os.path.join(src, name + ".jpg"), "wb") as f:
                f.write(png.tobytes())
        with open(os.path.join(tmp, "list.txt"), "w") as f:
            f.write("".join(n + "\n" for n in names))
        t0 = time.perf_counter()
        subprocess.run([binary, os.path.join(tmp, "list.txt"), src, dst, repr(float(k))], check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        ids = []
        for name in names:
            bgr = cv2.imread(os.path.join(dst, name + ".png"), cv2.IMREAD_UNCHANGED).astype(np.int32)
            ids.append((bgr[:, :, 0] + 256 * bgr[:, :, 1] + 65536 * bgr[:, :, 2]).astype(np.int32))
    return ids, seconds
