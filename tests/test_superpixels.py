"""Superpixels: FH wrapper and merging (fast == the release-style loop)."""
import cv2
import numpy as np
import pytest

from icd_mx import superpixels as S
from icd_mx.config import SuperpixelConfig
from icd_mx.data.transforms import reindex
from icd_mx.stages.superpixels import superpixels_record


def noisy_image(seed=0, h=60, w=80):
    rng = np.random.default_rng(seed)
    small = (rng.random((h // 8, w // 8, 3)) * 255).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def test_fh_wrapper_parameters(monkeypatch):
    from icd_mx import fh

    seen = []
    real = fh.fh_segment

    def spy(img, *args):
        seen.append(args)
        return real(img, *args)

    monkeypatch.setattr(fh, "fh_segment", spy)
    sp = S.fh_segment(noisy_image())
    assert seen == [(0.8, 75.0, 75)]
    assert sp.dtype == np.int32 and sp.min() == 0 and np.array_equal(np.unique(sp), np.arange(sp.max() + 1))
    assert np.array_equal(reindex(sp), sp)  # ids already 0..n-1 in first-appearance order


@pytest.mark.parametrize("adjacent_only", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_merge_equals_reference(adjacent_only, seed):
    rng = np.random.default_rng(seed)
    sp = reindex(rng.integers(0, 150, (12, 14)))  # many tiny regions
    sp = S.fh_segment(noisy_image(seed, 96, 128)) if seed else sp
    n = sp.max() + 1
    feats = rng.standard_normal((n, 16))
    feats[: n // 4] = feats[0]  # identical features: exercises the tie-breaking
    sizes = np.bincount(sp.ravel(), minlength=n)
    ref = S.merge_reference(sp, feats, sizes, 20, adjacent_only)
    fast = S.merge_fast(sp, feats, sizes, 20, adjacent_only)
    assert np.array_equal(ref, fast)
    assert fast.max() + 1 <= 20 and np.array_equal(np.unique(fast), np.arange(fast.max() + 1))


def test_merge_few_regions_is_identity_and_output_is_relabelled():
    sp = np.repeat(np.array([[5, 9, 2]]), 4, axis=0)
    out = S.merge_superpixels(sp, np.random.default_rng(0).standard_normal((4, 4, 3)), 64)
    assert out.tolist()[0] == [1, 2, 0]


def test_make_superpixels_with_color_features():
    img = noisy_image(3, 96, 128)
    cfg = SuperpixelConfig(max_regions=8)
    out = S.make_superpixels(img, S.color_features, cfg)
    assert out.shape == img.shape[:2] and out.max() + 1 <= 8
    feats, sizes = S.region_features(out, S.color_features(img))
    assert sizes.sum() == 96 * 128 and feats.shape == (out.max() + 1, 5)


def test_record_names_the_fh_implementation():
    from icd_mx import fh

    assert superpixels_record(SuperpixelConfig(features="color"))["fh"] == fh.implementation()
