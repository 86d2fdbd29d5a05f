"""Seeds (raw, CRF, saliency, the saliency fallback) against the release's (seeds.npz).

The score maps are the release's format for a 161 x 161 input (21 x 21 grid), resized and
cropped by our reader; every seed must be equal pixel for pixel.
"""
import numpy as np
import pytest

from icd_mx.crf import crf_refine_seed
from icd_mx.seeds import icd_seed, resize_maps, saliency_seed

INFER_SIZE = 161


def case(g, c):
    labels = [int(x) for x in g[f"{c}_labels"]]
    rgb = g[f"{c}_image_rgb"]
    h, w = rgb.shape[:2]
    scores = resize_maps(g[f"{c}_icd"], h, w, INFER_SIZE)
    cams = resize_maps(g[f"{c}_cam"], h, w, INFER_SIZE)
    return rgb, labels, scores, cams if len(labels) > 1 else None


@pytest.mark.parametrize("c", ["s1", "s2", "s3"])
def test_raw_seed(golden, c):
    g = golden("seeds")
    rgb, labels, scores, cams = case(g, c)
    np.testing.assert_array_equal(icd_seed(scores, cams, labels), g[f"{c}_seed_raw"])


@pytest.mark.parametrize("collapse", [True, False])
@pytest.mark.parametrize("c", ["s1", "s2", "s3"])
def test_crf_seed(golden, c, collapse):
    g = golden("seeds")
    rgb = g[f"{c}_image_rgb"]
    got = crf_refine_seed(rgb, g[f"{c}_seed_raw"], collapse=collapse)
    np.testing.assert_array_equal(got, g[f"{c}_seed_crf"])


@pytest.mark.parametrize("c", ["s4", "s5"])
def test_saliency_seed(golden, c):
    g = golden("seeds")
    rgb, labels, scores, cams = case(g, c)
    sal = g[f"{c}_saliency"].astype(np.float32) / 255.0
    np.testing.assert_array_equal(saliency_seed(scores, cams, labels, sal), g[f"{c}_seed_sal"])


def test_fallback_case_takes_the_fallback(golden):
    """s5's salient area is under 1 %: the ICD background condition must apply."""
    g = golden("seeds")
    assert (g["s5_saliency"] / 255.0 >= 0.01).mean() < 0.01
