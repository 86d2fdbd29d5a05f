"""Superpixel features on the configured devices: batched VGG features, workers spread over
superpixels.gpus, the CPU only when superpixels.gpus is empty (docs/gpu.md)."""
import os

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from icd_mx import superpixels as S
from icd_mx.stages import superpixels as stage
from icd_mx.config import ModelConfig, SuperpixelConfig
from icd_mx.data.voc import VOCLayout
from icd_mx.errors import InputError

W = 0.0625


def _params(tmp_path):
    from icd_mx.compat.release import export_init
    from icd_mx.nn.icd import ICDNet

    net = ICDNet(ModelConfig(width=W))
    net.initialize()
    rng = np.random.RandomState(0)
    for p in net.collect_params().values():
        p.set_data(mx.nd.array(rng.randn(*p.shape) * 0.05))
    path = str(tmp_path / "vgg.params")
    export_init(net, path)
    return path


def test_batch_equals_one_image_at_a_time(tmp_path):
    rng = np.random.RandomState(0)
    images = [rng.randint(0, 256, (h, w, 3)).astype(np.uint8) for h, w in ((40, 56), (60, 36), (70, 50))]
    feats = S.VGGFeatures(_params(tmp_path), width=W, size=64)  # the 70-px image gets its own 70-px canvas
    batch = feats.batch(images)
    for img, got in zip(images, batch):
        assert got.shape[1:] == img.shape[:2]
        np.testing.assert_allclose(got, feats(img), rtol=1e-4, atol=1e-5)
    assert S.VGGFeatures.__getstate__(feats)["net"] is None  # workers load their own copy


def test_devices_and_chunks():
    assert stage.worker_devices([], 3) == [None, None, None]
    assert stage.worker_devices([0, 1], 5) == [0, 1, 0, 1, 0]
    assert stage.worker_devices([0, 1], 1) == [0, 1]  # at least one worker per GPU
    assert stage.chunks(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]


def test_gpus_the_build_lacks_are_refused(tmp_path):
    cfg = SuperpixelConfig(feature_params=_params(tmp_path), feature_width=W, gpus=[0])
    if mx.runtime.Features().is_enabled("CUDA") and mx.context.num_gpus():
        pytest.skip("this build has a GPU")
    with pytest.raises(InputError, match="superpixels.gpus: .*make install-gpu"):
        S.feature_source(cfg)
    assert isinstance(S.feature_source(SuperpixelConfig(feature_params=cfg.feature_params)), S.VGGFeatures)


def test_job_on_a_batch_and_the_worker_pool(tmp_path):
    os.makedirs(tmp_path / "JPEGImages")
    rng = np.random.RandomState(1)
    ids = [f"im{i}" for i in range(5)]
    for i in ids:
        Image.fromarray(rng.randint(0, 256, (30, 40, 3)).astype(np.uint8)).save(tmp_path / "JPEGImages" / f"{i}.jpg")
    layout = VOCLayout(str(tmp_path))
    cfg = SuperpixelConfig(features="color", max_regions=6)
    job = stage.SuperpixelJob(layout, cfg, S.color_features)
    assert job(ids[:2] + ["absent"])[-1][0] == "absent"  # a missing image: its error, the others written
    assert all(os.path.isfile(layout.superpixel(i)) for i in ids[:2])
    out = stage.run_superpixels(layout, ids, cfg, S.color_features, workers=2, progress=False)
    assert out == {"images": 5, "skipped": 2} and all(os.path.isfile(layout.superpixel(i)) for i in ids)
