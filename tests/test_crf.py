"""CRF unary construction and the 0.1 rule."""
import numpy as np

from icd_mx import crf


def test_unary_probs():
    seed = np.array([[0, 5, 255]], np.uint8)
    p = crf.seed_unary_probs(seed)
    assert p.shape == (21, 3) and np.allclose(p.sum(axis=0), 1)
    # the release: 0.5 on the seed label, (1 - 0.5) / 21 on each other label, then normalised
    total = 0.5 + 20 * 0.5 / 21
    assert np.isclose(p[0, 0], 0.5 / total) and np.isclose(p[1, 0], 0.5 / 21 / total)
    assert np.isclose(p[5, 1], p[0, 0]) and np.allclose(p[:, 2], 1 / 21)
    q = crf.seed_unary_probs(seed, rest=0.025)  # an explicit rest: 0.5 + 20 * 0.025 = 1
    assert np.isclose(q[0, 0], 0.5) and np.isclose(q[1, 0], 0.025)


def test_crf_refine_respects_min_prob():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (24, 30, 3)).astype(np.uint8)
    seed = np.full((24, 30), 255, np.uint8)
    seed[:12] = 0
    seed[12:, :15] = 3
    out = crf.crf_refine_seed(rgb, seed)
    q = crf.dense_crf(rgb, crf.seed_unary_probs(seed))
    assert np.array_equal(out == 255, q.max(axis=0) < 0.1)
    assert np.array_equal(out[out != 255], q.argmax(axis=0)[out != 255])
    assert (out[:10] == 0).mean() > 0.9
    everything_undefined = crf.crf_refine_seed(rgb, np.full((24, 30), 255, np.uint8))
    assert (everything_undefined == 255).all()  # uniform 1/21 < 0.1


def test_crf_uses_the_release_parameters(monkeypatch):
    """docs/method.md "Seeds": Gaussian sxy 3 compat 3, bilateral sxy 80 srgb 13 compat 10 on the
    RGB image, 10 iterations, unary -log p: checked on the calls pydensecrf receives."""
    import pydensecrf.densecrf as dcrf

    calls = {}

    class Spy:
        def __init__(self, w, h, n):
            calls["init"] = (w, h, n)

        def setUnaryEnergy(self, u):
            calls["unary"] = np.array(u)

        def addPairwiseGaussian(self, **kw):
            calls["gauss"] = kw

        def addPairwiseBilateral(self, **kw):
            calls["bilateral"] = {k: v for k, v in kw.items() if k != "rgbim"}
            calls["rgb"] = kw["rgbim"]

        def inference(self, n):
            calls["iterations"] = n
            return np.full((21, calls["init"][0] * calls["init"][1]), 1 / 21, np.float32)

    monkeypatch.setattr(dcrf, "DenseCRF2D", Spy)
    rgb = np.random.default_rng(1).integers(0, 255, (4, 6, 3)).astype(np.uint8)
    seed = np.zeros((4, 6), np.uint8)
    crf.crf_refine_seed(rgb, seed, collapse=False)
    assert calls["init"] == (6, 4, 21) and calls["iterations"] == 10
    assert calls["gauss"] == {"sxy": 3, "compat": 3}
    assert calls["bilateral"] == {"sxy": 80, "srgb": 13, "compat": 10}
    assert np.array_equal(calls["rgb"], rgb) and calls["rgb"].flags["C_CONTIGUOUS"]
    total = 0.5 + 20 * 0.5 / 21
    np.testing.assert_allclose(calls["unary"][0], -np.log(0.5 / total), rtol=1e-6)
    np.testing.assert_allclose(calls["unary"][1], -np.log(0.5 / 21 / total), rtol=1e-6)


def _blobby_case(rng, h, w, labels):
    """A smooth random image and a seed map of blocks of ``labels`` on an undefined field."""
    import cv2

    rgb = cv2.resize(rng.integers(0, 255, (6, 8, 3)).astype(np.uint8), (w, h))
    rgb = np.clip(rgb.astype(int) + rng.integers(-25, 25, rgb.shape), 0, 255).astype(np.uint8)
    seed = np.full((h, w), 255, np.uint8)
    for lab in labels:
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        seed[y:y + rng.integers(4, h // 2), x:x + rng.integers(4, w // 2)] = lab
    return rgb, seed


def test_collapsed_crf_gives_the_release_seeds():
    """Absent labels run as one label of multiplicity m: the same seeds as the 21-label CRF
    (module docstring), for 1..4 labels, every label present, nothing seeded, both rests."""
    rng = np.random.default_rng(3)
    cases = [[0], [0, 7], [0, 3, 15], [2, 9], [0, 1, 11, 20], list(range(21)), []]
    for k, labels in enumerate(cases):
        rgb, seed = _blobby_case(rng, 40 + 3 * k, 56, labels)
        for rest in (None, 0.5 / 20):
            full = crf.crf_refine_seed(rgb, seed, rest=rest, collapse=False)
            fast = crf.crf_refine_seed(rgb, seed, rest=rest)
            assert np.array_equal(full, fast), (labels, rest, (full != fast).sum())
    # a confidence low enough for the 0.1 rule to bite outside the undefined field
    rgb, seed = _blobby_case(rng, 48, 64, [0, 4, 6])
    full = crf.crf_refine_seed(rgb, seed, confidence=0.12, collapse=False)
    assert (full == 255).any() and (full != 255).any()
    assert np.array_equal(full, crf.crf_refine_seed(rgb, seed, confidence=0.12))
