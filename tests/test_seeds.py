"""Seed logic against an obvious per-pixel reference written from docs/method.md "Seeds"."""
import cv2
import numpy as np
import pytest

from icd_mx import seeds
from icd_mx.scores import normalise_scores, resize_maps, threshold_seed
from icd_mx.stages.seeds import generate_seeds

EPS = 1e-5


def slow_seed(scores, cams, labels, saliency=None):
    """Per pixel, straight from the spec (release reading of the flat rule)."""
    n, h, w = scores.shape
    mx = [max(scores[c].max(), EPS) for c in range(n)]
    mn = [min(scores[c].min(), -EPS) for c in range(n)]
    if n > 1:
        pc = np.maximum(cams, 0)
        lo, hi = pc.min(), pc.max()
    out = np.zeros((h, w), np.uint8)
    if saliency is not None:
        sal_bg = saliency < 0.01
        small = (~sal_bg).mean() < 0.01
    for y in range(h):
        for x in range(w):
            fgs = [max(scores[c, y, x], 0) / mx[c] for c in range(n)]
            props = [c for c in range(n) if fgs[c] > EPS]
            fg = bool(props)
            icd_bg = all(min(scores[c, y, x], 0) / mn[c] > EPS for c in range(n))
            bg = icd_bg if saliency is None else (sal_bg[y, x] and (icd_bg or not small))
            cls = props[0] if props else 0
            flat = False
            if n > 1:
                comp = [(pc[c, y, x] - lo) / max(hi - lo, EPS) * fgs[c] for c in range(n)]
                if len(props) > 1:
                    cls = int(np.argmax(comp))
                flat = fg and (max(comp) - min(comp) <= EPS)
            if fg == bg or flat:
                out[y, x] = 255
            elif bg:
                out[y, x] = 0
            else:
                out[y, x] = labels[cls] + 1
    return out


def rand_maps(rng, n, h=9, w=11):
    s = rng.standard_normal((n, h, w)).astype(np.float32)
    c = rng.standard_normal((n, h, w)).astype(np.float32)
    return s, c


@pytest.mark.parametrize("n", [1, 2, 3])
def test_icd_seed_matches_slow_reference(n):
    rng = np.random.default_rng(n)
    labels = sorted(rng.choice(20, n, replace=False).tolist())
    for _ in range(3):
        s, c = rand_maps(rng, n)
        assert np.array_equal(seeds.icd_seed(s, c, labels), slow_seed(s, c, labels))


def test_flat_product_and_both_neither():
    s = np.array([[[1.0, 0.5, 0.0, -1.0]], [[1.0, 0.0, 0.0, -1.0]]], np.float32)
    c = np.zeros_like(s)  # flat CAM -> flat product wherever fg
    out = seeds.icd_seed(s, c, [2, 7])
    assert out.tolist() == [[255, 255, 255, 0]]  # fg flat, fg flat, neither, bg
    c[0, 0, 1] = 1.0
    assert seeds.icd_seed(s, c, [2, 7]).tolist() == [[255, 3, 255, 0]]
    single = np.array([[[1.0, -1.0, 0.0]]], np.float32)
    assert seeds.icd_seed(single, None, [4]).tolist() == [[5, 0, 255]]
    assert np.array_equal(seeds.icd_seed(s, c, [2, 7]), slow_seed(s, c, [2, 7]))


def test_saliency_mode_and_one_percent_rule():
    rng = np.random.default_rng(5)
    s, c = rand_maps(rng, 2, 20, 20)
    sal = rng.random((20, 20)).astype(np.float32)
    sal[sal < 0.5] = 0
    out = seeds.saliency_seed(s, c, [1, 3], sal)
    assert np.array_equal(out, slow_seed(s, c, [1, 3], sal))
    tiny = np.zeros((20, 20), np.float32)
    tiny[0, 0] = 1.0  # 0.25% salient: background also needs ICD negative everywhere
    out = seeds.saliency_seed(s, c, [1, 3], tiny)
    assert np.array_equal(out, slow_seed(s, c, [1, 3], tiny))
    assert not np.array_equal(out, seeds.saliency_seed(s, c, [1, 3], np.zeros((20, 20), np.float32) + (sal > 0)))


def test_cam_seed_and_threshold_seed():
    cams = np.array([[[2.0, 1.0, 0.0]], [[0.0, 4.0, -1.0]]], np.float32)
    assert seeds.cam_seed(cams, [0, 5], 0.3).tolist() == [[1, 6, 0]]
    ts = threshold_seed(np.array([[[2.0, 0.2, -1.0, -0.1]]], np.float32), [3], 0.3)
    assert ts.tolist() == [[4, 255, 0, 255]]
    n = normalise_scores(np.array([[[2.0, 1.0, -4.0, -1.0]]], np.float32))
    assert n.tolist() == [[[1.0, 0.5, -1.0, -0.25]]]


def test_resize_maps_equals_per_channel_cv2():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((3, 65, 65)).astype(np.float32)
    out = resize_maps(m, 300, 401)
    ref = np.array([cv2.resize(x, (513, 513))[:300, :401] for x in m])
    assert np.array_equal(out, ref)
    assert resize_maps(m[:1], 10, 12).shape == (1, 10, 12)


def test_variants():
    from icd_mx.config import SeedConfig

    vs = seeds.default_variants(SeedConfig())
    assert [v.name for v in vs] == ["raw", "crf"] and vs[0].kind == "icd_td"
    assert seeds.parse_variant("icd_bu:raw", "icd_td") == ("icd_bu_raw", "icd_bu", "raw")
    assert seeds.parse_variant("cam_thr", "icd_td").kind == "cam"
    from icd_mx.errors import InputError
    with pytest.raises(InputError):
        seeds.parse_variant("bogus:crf", "icd_td")


def test_cam_scores_needed_only_where_read(tmp_path):
    """ICD seeds read the CAM only for images with several classes (overlaps) and for
    cam_thr; a missing CAM file elsewhere is not an error."""
    import os

    from icd_mx.config import SeedConfig
    from icd_mx.data import voc
    from icd_mx.data.synthetic import make_minivoc
    from icd_mx.errors import InputError

    root = str(tmp_path / "d")
    make_minivoc(root, 16, 0, 3, 3, 60, 80, saliency=False)
    layout = voc.VOCLayout(root)
    ids = voc.read_list(root, "train_aug")
    n_labels = {i: len(voc.read_labels(layout.xml(i))) for i in ids}
    single = [i for i in ids if n_labels[i] == 1]
    multi = [i for i in ids if n_labels[i] > 1]
    assert single and multi
    scores = tmp_path / "scores" / "icd_td"
    scores.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in ids:
        np.save(scores / f"{i}.npy", rng.standard_normal((n_labels[i], 65, 65)).astype(np.float32))
    job = seeds.SeedJob(layout, str(tmp_path / "scores"), str(tmp_path / "out"),
                        [seeds.parse_variant("raw", "icd_td")], SeedConfig())
    generate_seeds(job, single, progress=False)
    assert all(os.path.isfile(job.out_path(job.variants[0], i)) for i in single)
    with pytest.raises(InputError, match="score file not found") as e:
        generate_seeds(job, multi[:1], progress=False)
    assert e.value.path.endswith(os.path.join("cam", multi[0] + ".npy"))
    thr = seeds.SeedJob(layout, str(tmp_path / "scores"), str(tmp_path / "out2"),
                        [seeds.parse_variant("cam_thr", "icd_td")], SeedConfig())
    with pytest.raises(InputError, match="score file not found"):
        generate_seeds(thr, single[:1], progress=False)
