"""Pre-training on generated patches (the CPU demo's ImageNet stand-in) and its 20M-format init."""
import os

import numpy as np

from icd_mx.config import load_config
from icd_mx.data import synthetic


def test_part_canvases_are_labelled_and_deterministic():
    names = synthetic.part_names(6)
    assert names[:2] == ["body", "head_aeroplane"] and len(names) == 7
    labels = []
    for i in range(40):
        a = synthetic.render_part_canvas(np.random.RandomState(i), 48, 6)
        b = synthetic.render_part_canvas(np.random.RandomState(i), 48, 6)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[0].shape == (48, 48, 3)
        labels.append(a[1])
    labels = np.array(labels)
    assert labels.shape == (40, 7) and set(np.unique(labels)) == {0.0, 1.0}
    assert (labels.sum(1) == 0).any() and labels[:, 0].mean() > 0.3 and labels[:, 1:].sum() >= 8
    assert (labels[:, 1:].sum(1) > 0).sum() <= labels[:, 0].sum() + 1e-9  # a visible head comes with its body


def test_pool_does_not_depend_on_workers():
    from icd_mx.stages.pretrain import render_pool

    a = render_pool(6, 24, 3, seed=1, workers=1)
    b = render_pool(6, 24, 3, seed=1, workers=2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_run_pretrain_writes_an_init_that_icd_and_deeplab_read(tmp_path):
    import mxnet as mx

    from icd_mx.compat.release import load_params
    from icd_mx.nn import ICDNet
    from icd_mx.stages.pretrain import init_path, run as run_pretrain

    cfg = load_config(None, [f"run_dir={tmp_path}/run", "model.width=0.0625", "model.scratch_dirac=0.1",
                             "pretrain.patches=16", "pretrain.patch_size=24", "pretrain.classes=3",
                             "pretrain.batch_size=8", "pretrain.epochs=2", "pretrain.render_workers=1"])
    path = run_pretrain(cfg)
    assert path == init_path(cfg) and os.path.isfile(path)
    arrays = mx.nd.load(path)
    assert all(k.startswith("arg:") for k in arrays) and "arg:fc7_bias" in arrays and len(arrays) == 30
    assert "part_cls" not in " ".join(arrays)
    net = ICDNet(cfg.model)
    assert load_params(net, path, ctx=mx.cpu())["format"] == "init"
    np.testing.assert_array_equal(net.fc6_ft.weight.data().asnumpy(), arrays["arg:fc6_weight"].asnumpy())
    log = open(os.path.join(tmp_path, "run", "pretrain", "metrics.csv")).read()
    assert "acc" in log.splitlines()[0]
    mtime = os.path.getmtime(path)
    assert run_pretrain(cfg) == path and os.path.getmtime(path) == mtime  # finished: resumes to nothing
