"""Superpixel refinement against the release's SPRefine outputs (refine.npz)."""
import mxnet as mx
import numpy as np
import pytest

from icd_mx.nn.refine import refine


@pytest.mark.parametrize("sp_key,out_key", [("superpixel", "output"), ("superpixel_same_res", "output_same_res")])
@pytest.mark.parametrize("depth", ["data", 65])
def test_refine_matches_release(golden, sp_key, out_key, depth):
    g = golden("refine")
    sp = g[sp_key]
    k = int(sp.max()) + 1 if depth == "data" else depth  # the release's depth, or the configured one
    out = refine(mx.nd, mx.nd.array(g["score"]), mx.nd.array(g["label"]), mx.nd.array(sp), k).asnumpy()
    np.testing.assert_allclose(out, g[out_key], rtol=0, atol=1e-5)
    absent = g["label"] == 0
    assert np.abs(out[absent]).max() == 0


def test_release_cases_separate_the_two_normalisations(golden):
    """The fixture is only a check if the per-map reading would fail it: multi-class images
    must differ from the release by far more than the tolerance under that reading."""
    g = golden("refine")
    out = g["output"]
    assert np.abs(out[1:]).max() > 0.1 and np.isfinite(out).all()
    # both signs among the labelled maps of every image
    for n in range(3):
        maps = out[n][g["label"][n] > 0]
        assert (maps > 0).any() and (maps < 0).any()
