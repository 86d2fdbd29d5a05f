"""FH segmentation (icd_mx.fh): the C++ path against the plain reference, ties, corner cases,
and the release's own partitions (tests/fixtures/release/fh.npz)."""
import os

import numpy as np
import pytest

from icd_mx import fh

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "release", "fh.npz")
needs_ext = pytest.mark.skipif(fh._fh is None, reason="icd_mx._fh not built (pip install -e .)")


def stable(weights):
    return np.argsort(weights, kind="stable")


def tied_image(seed, h=None, w=None, levels=3):
    """Few colour levels: many edges of exactly equal weight."""
    rng = np.random.default_rng(seed)
    h = h or int(rng.integers(1, 12))
    w = w or int(rng.integers(1, 12))
    return (rng.integers(0, levels, (h, w, 3)) * int(rng.integers(1, 40))).astype(np.uint8)


def smooth_image(seed, h, w):
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:h, :w] / 6.0
    img = 120 + 60 * np.sin(xs[..., None] * rng.uniform(0.3, 1.5, 3) + ys[..., None] * rng.uniform(0.3, 1.5, 3))
    img += rng.normal(0, 12, img.shape)
    img[h // 3: h // 2, w // 4: w // 2] = rng.integers(0, 255, 3)  # a flat block
    return np.clip(img, 0, 255).astype(np.uint8)


def assert_ids(labels):
    """int32 ids 0..n-1, numbered by first appearance in raster order."""
    assert labels.dtype == np.int32
    flat = labels.ravel()
    _, first = np.unique(flat, return_index=True)
    assert np.array_equal(flat[np.sort(first)], np.arange(first.size))


# -- the edge order ------------------------------------------------------------------------

@needs_ext
def test_sort_order_is_std_sort_not_stable():
    rng = np.random.default_rng(0)
    w = rng.integers(0, 5, 3000).astype(np.float32)
    order = fh.sort_order(w)
    assert np.array_equal(np.sort(order), np.arange(w.size)) and np.all(np.diff(w[order]) >= 0)
    assert not np.array_equal(order, stable(w))  # equal weights are reordered
    # 40 equal weights: the order libstdc++'s introsort leaves them in (pinned; the fixture
    # partitions below depend on it)
    assert fh.sort_order(np.zeros(40, np.float32)).tolist() == (
        [30] + list(range(21, 30)) + [20] + list(range(31, 40)) + [10] + list(range(1, 10)) + [0]
        + list(range(11, 20)))
    distinct = rng.permutation(500).astype(np.float32)
    assert np.array_equal(fh.sort_order(distinct), stable(distinct))


def test_tie_order_changes_partitions():
    """Why the release's sort must be reproduced: a stable sort gives another partition."""
    img = tied_image(0, 8, 6)
    a = fh.fh_reference(img, 0.01, 20.0, 3, order=lambda w: w.argsort(kind="stable"))
    b = fh.fh_reference(img, 0.01, 20.0, 3, order=lambda w: np.lexsort((-np.arange(w.size), w)))
    assert not np.array_equal(a, b)


# -- fast == reference ---------------------------------------------------------------------

@needs_ext
@pytest.mark.parametrize("seed", range(40))
def test_fast_equals_reference_with_ties(seed):
    rng = np.random.default_rng(1000 + seed)
    img = tied_image(seed)
    sigma = float(rng.choice([0.01, 0.5, 0.8]))
    k = float(rng.choice([1.0, 5.0, 20.0, 75.0]))
    min_size = int(rng.choice([1, 3, 10]))
    fast = fh.fh_fast(img, sigma, k, min_size)
    assert np.array_equal(fast, fh.fh_reference(img, sigma, k, min_size))
    assert_ids(fast)


@needs_ext
@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (1, 37), (29, 1), (2, 2), (3, 50), (24, 31)])
def test_fast_equals_reference_small_shapes(shape):
    img = smooth_image(sum(shape), *shape)
    for k, min_size in ((75.0, 75), (10.0, 3)):
        fast = fh.fh_fast(img, 0.8, k, min_size)
        assert np.array_equal(fast, fh.fh_reference(img, 0.8, k, min_size))
        assert fast.shape == shape
        assert_ids(fast)


# -- corner cases --------------------------------------------------------------------------

def segmenters():
    out = [fh.fh_reference]
    return out + [fh.fh_fast] if fh._fh is not None else out


@pytest.mark.parametrize("seg", segmenters())
def test_flat_image_is_one_region(seg):
    img = np.full((9, 13, 3), 77, np.uint8)
    assert np.array_equal(seg(img, 0.8, 1e-6, 1), np.zeros((9, 13), np.int32))


@pytest.mark.parametrize("seg", segmenters())
def test_single_pixel_regions(seg):
    """All pixels distinct, k so small that no edge passes, min_size 1: every pixel alone,
    numbered in raster order; min_size 2 leaves no single pixel."""
    img = np.zeros((5, 7, 3), np.uint8)
    img[..., 0] = np.arange(35).reshape(5, 7) * 7
    assert np.array_equal(seg(img, 0.01, 1e-3, 1), np.arange(35, dtype=np.int32).reshape(5, 7))
    pairs = seg(img, 0.01, 1e-3, 2)
    assert pairs.max() + 1 <= 17 and np.bincount(pairs.ravel()).min() >= 2


@pytest.mark.parametrize("seg", segmenters())
def test_join_rule_uses_less_or_equal(seg):
    """1x2 image, weight exactly 3 (sigma 0.01: no smoothing); tau = k for single pixels."""
    img = np.array([[[10, 10, 10], [13, 10, 10]]], np.uint8)
    assert seg(img, 0.01, 3.0, 1).tolist() == [[0, 0]]
    assert seg(img, 0.01, 2.99, 1).tolist() == [[0, 1]]


@pytest.mark.parametrize("seg", segmenters())
def test_min_size_pass(seg):
    """A 9-pixel blob on a flat background (no smoothing): its own region while
    min_size <= 9, joined to the background once 9 < min_size."""
    img = np.full((20, 20, 3), 30, np.uint8)
    img[5:8, 5:8] = 220
    blob = np.zeros((20, 20), np.int32)
    blob[5:8, 5:8] = 1
    assert np.array_equal(seg(img, 0.01, 20.0, 1), blob)
    assert np.array_equal(seg(img, 0.01, 20.0, 9), blob)
    assert np.array_equal(seg(img, 0.01, 20.0, 10), np.zeros((20, 20), np.int32))


def test_gaussian_taps():
    taps = fh.gaussian_taps(0.8)
    assert taps.dtype == np.float32 and taps.size == 5  # half-width ceil(4 * 0.8) = 4
    assert abs(float(taps[0] + 2 * taps[1:].sum()) - 1) < 1e-6
    assert fh.gaussian_taps(0.01).tolist() == [1.0, 0.0]  # no smoothing


def test_graph_enumeration():
    """Per pixel: right, down, down-right, up-right."""
    a, b, w = fh.graph(np.zeros((2, 2, 3), np.uint8), 0.8)
    assert list(zip(a.tolist(), b.tolist())) == [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3), (2, 1)]
    assert w.dtype == np.float32 and not w.any()


def test_input_checks_and_grey():
    grey = smooth_image(3, 12, 15)[..., 0]
    ref = fh.fh_reference(np.repeat(grey[..., None], 3, 2), 0.8, 20.0, 3)
    assert np.array_equal(fh.fh_segment(grey, 0.8, 20.0, 3), ref)
    assert np.array_equal(fh.fh_segment(grey.astype(np.float64)[..., None].repeat(3, 2), 0.8, 20.0, 3), ref)
    with pytest.raises(ValueError):
        fh.fh_segment(np.full((4, 4, 3), 0.5))
    with pytest.raises(ValueError):
        fh.fh_segment(np.zeros((4, 4, 4), np.uint8))
    assert fh.fh_segment(np.zeros((0, 5, 3), np.uint8)).shape == (0, 5)


def test_fallback_without_extension(monkeypatch):
    img = smooth_image(4, 10, 12)
    expected = fh.fh_reference(img, 0.8, 20.0, 3, order=stable)
    monkeypatch.setattr(fh, "_fh", None)
    assert fh.implementation() == "python-stable-sort"
    with pytest.warns(RuntimeWarning, match="not built"):
        out = fh.fh_segment(img, 0.8, 20.0, 3)
    assert np.array_equal(out, expected)


# -- the release's own partitions ----------------------------------------------------------

def fixture_cases():
    with np.load(FIXTURE) as z:
        names = sorted({key.rsplit("_", 1)[0] for key in z.files})
        return [(n, z[n + "_img"], z[n + "_labels"], z[n + "_params"]) for n in names]


@pytest.mark.parametrize("case", fixture_cases(), ids=lambda c: c[0])
def test_release_partitions(case):
    name, img, labels, (sigma, k, min_size) = case
    assert np.array_equal(fh.fh_segment(img, sigma, k, int(min_size)), labels), name
    if img.shape[0] * img.shape[1] <= 1000:
        assert np.array_equal(fh.fh_reference(img, sigma, k, int(min_size)), labels), name


@pytest.mark.skipif(not os.environ.get("ICD_MX_FH_RELEASE"), reason="ICD_MX_FH_RELEASE (a built release "
                    "makeSuperpixel) not set")
def test_release_binary():
    """Against the release's own binary, at its parameters (k = min_size = 75, sigma 0.8)
    and at k = 20 (min_size 20) on tie-heavy images."""
    binary = os.environ["ICD_MX_FH_RELEASE"]
    images = [smooth_image(s, 90, 120) for s in range(3)] + [tied_image(s, 30, 40) for s in range(3)]
    for k in (75.0, 20.0):
        ids, _ = fh.release_binary_segment(binary, images, k)
        for img, expected in zip(images, ids):
            assert np.array_equal(fh.fh_segment(img, 0.8, k, int(k)), expected)
