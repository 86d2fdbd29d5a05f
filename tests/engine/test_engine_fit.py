"""The training engine on a toy regression task (engine_toy.py): SGD rules against a
NumPy reference, contexts, reduce, checkpoints, exact resume, NaN stop."""
import json
import os

import mxnet as mx
import numpy as np
import pytest
from engine_toy import N, Opt, ToyTask, params_of

from icd_mx.engine import NonFiniteLossError, Reducer, fit, get_contexts, poly_lr, shard_batches
from icd_mx.engine.checkpoint import latest_checkpoint, list_checkpoints
from icd_mx.errors import InputError


def test_get_contexts_and_poly_lr():
    assert get_contexts([]) == [mx.cpu()]
    if mx.runtime.Features().is_enabled("CUDA") and mx.context.num_gpus() >= 2:
        assert get_contexts([0, 1]) == [mx.gpu(0), mx.gpu(1)]
    else:  # the CPU build or too few GPUs: one line naming the setting, not a traceback at the first op
        with pytest.raises(InputError, match="train.gpus"):
            get_contexts([0, 1])
    assert poly_lr(1e-3, 0, 20, 0.9) == 1e-3
    assert poly_lr(1e-3, 10, 20, 0.9) == pytest.approx(1e-3 * 0.5 ** 0.9)


def test_poly_lr_is_set_at_each_epoch_start(tmp_path):
    task = ToyTask()
    out = fit(task, Opt(epochs=3, lr=0.1), str(tmp_path), [mx.cpu()])
    want = [poly_lr(0.1, e, 3, 0.9) for e in range(3)]
    assert [lr for _, lr in task.lrs] == pytest.approx(want)
    assert [h["lr"] for h in out["history"]] == pytest.approx(want)


def _reference(params, batches, opt, lr_mult, wd_mult):
    """Slow, obvious SGD with momentum: v = m v - lr mult (g / B + wd wd_mult w); w += v."""
    w = {k: v.astype(np.float64) for k, v in params.items()}
    vel = {k: np.zeros_like(v) for k, v in w.items()}
    for x, y in batches:
        x, y = x.astype(np.float64), y.astype(np.float64)
        h = np.tanh(x @ w["0.weight"].T + w["0.bias"])
        r = h @ w["1.weight"].T + w["1.bias"] - y
        gh = 2 * r @ w["1.weight"] * (1 - h ** 2)
        grads = {"1.weight": 2 * r.T @ h, "1.bias": 2 * r.sum(0), "0.weight": gh.T @ x, "0.bias": gh.sum(0)}
        for k in w:
            g = grads[k] / opt.batch_size + opt.wd * wd_mult[k] * w[k]
            vel[k] = opt.momentum * vel[k] - opt.lr * lr_mult[k] * g
            w[k] = w[k] + vel[k]
    return w


def test_sgd_step_honours_lr_mult_wd_mult_and_global_batch(tmp_path):
    opt = Opt(epochs=1, max_iters_per_epoch=2, wd=0.05)  # a large wd so wd_mult matters
    task = ToyTask()
    start = params_of(task.net)
    batches = task.train_loader(0, opt.batch_size)[:2]
    fit(task, opt, str(tmp_path), [mx.cpu()])
    lr_mult = {k: 10.0 if k.startswith("1.") else 1.0 for k in start}
    wd_mult = {k: 0.0 if k.endswith("bias") else 1.0 for k in start}
    want = _reference(start, batches, opt, lr_mult, wd_mult)
    got = params_of(task.net)
    for k in start:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
    wrong = _reference(start, batches, opt, {k: 1.0 for k in start}, {k: 1.0 for k in start})
    assert not np.allclose(got["1.weight"], wrong["1.weight"], rtol=1e-4)


def test_two_contexts_give_the_one_context_update(tmp_path):
    one, two = ToyTask(), ToyTask()
    fit(one, Opt(), str(tmp_path / "one"), [mx.cpu(0)])
    fit(two, Opt(), str(tmp_path / "two"), [mx.cpu(0), mx.cpu(1)])
    a, b = params_of(one.net), params_of(two.net)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-7, err_msg=k)
    np.testing.assert_allclose(one.state.asnumpy(), two.state.asnumpy(), rtol=1e-5, atol=1e-6)


def test_reduce_sums_over_contexts():
    red = Reducer("device")
    parts = [mx.nd.array([1.0, 2.0], ctx=mx.cpu(0)), mx.nd.array([10.0, 20.0], ctx=mx.cpu(1))]
    out = red(parts)
    assert out.context == mx.cpu(0)
    assert out.asnumpy().tolist() == [11.0, 22.0]
    assert red(parts[:1]).asnumpy().tolist() == [1.0, 2.0]


def test_shard_batches_split_each_global_batch():
    full = shard_batches(N, 8, epoch=3, seed=1)
    shards = [shard_batches(N, 4, epoch=3, seed=1, shard=(r, 2)) for r in range(2)]
    assert len(full) == len(shards[0]) == len(shards[1]) == N // 8
    for b, batch in enumerate(full):
        assert np.array_equal(np.concatenate([shards[0][b], shards[1][b]]), batch)
    assert sorted(np.concatenate(full).tolist()) == list(range(N))
    assert not np.array_equal(np.concatenate(full), np.concatenate(shard_batches(N, 8, epoch=4, seed=1)))
    assert [len(b) for b in shard_batches(10, 4, 0, 0)] == [4, 4]  # the tail is dropped


def test_console_shows_one_summary_line_per_epoch(tmp_path, capfd):
    """One logging path (docs/architecture.md, "Logging"): with the console set up as the
    commands do, a 2-epoch run prints one summary line per epoch (loss, lr, img/s, ETA), and
    log.txt holds the same lines, timestamped."""
    import logging
    import re

    from icd_mx.engine.logger import setup_logging

    log = setup_logging()
    try:
        fit(ToyTask(), Opt(epochs=2, log_interval=1), str(tmp_path), [mx.cpu()])
    finally:
        for h in [h for h in log.handlers if type(h).__name__ == "_Console"]:
            log.removeHandler(h)
        log.setLevel(logging.NOTSET)
    err = capfd.readouterr().err
    num = r"[-0-9.e+]+"
    pattern = rf"epoch ([12])/2: loss {num}, mse {num}, task_lr {num}, lr {num}, img/s {num}, .*ETA \S+"
    lines = [x for x in re.split(r"[\r\n]", err) if x.startswith("epoch ") and "/2:" in x]
    assert [re.fullmatch(pattern, x).group(1) for x in lines] == ["1", "2"], err
    assert lines[-1].endswith("ETA 0s")
    logged = open(os.path.join(str(tmp_path), "log.txt")).read().splitlines()
    assert [x.split(" ", 2)[2] for x in logged if " epoch " in x] == lines


def test_checkpoints_and_logs_are_complete(tmp_path):
    run = str(tmp_path)
    fit(ToyTask(), Opt(epochs=2), run, [mx.cpu()])
    ckpt = os.path.join(run, "checkpoints")
    assert sorted(os.listdir(ckpt)) == [f"epoch-000{e}.{x}" for e in (0, 1) for x in ("json", "params", "states")]
    meta = json.load(open(os.path.join(ckpt, "epoch-0001.json")))
    assert meta["epoch"] == 1 and meta["iteration"] == 2 * N // 8
    assert set(meta) >= {"task", "history", "opt"} and len(meta["task"]["state"]) == 4
    assert "rng" not in meta  # every epoch reseeds its generators: no state to keep
    for name in ("log.txt", "metrics.csv", "metrics.json", "curve.png"):
        assert os.path.getsize(os.path.join(run, name)) > 0
    header = open(os.path.join(run, "metrics.csv")).readline().strip().split(",")
    assert header == ["epoch", "iter", "lr", "loss", "mse", "task_lr", "img_s"]
    # a half-written checkpoint (JSON without binaries) is ignored
    open(os.path.join(ckpt, "epoch-0002.json"), "w").write("{}")
    assert latest_checkpoint(ckpt).endswith("epoch-0001") and len(list_checkpoints(ckpt)) == 2


def test_keep_checkpoints(tmp_path):
    class Exporting(ToyTask):
        def export(self, prefix):
            open(prefix + "-release.params", "w").write("x")

    fit(Exporting(), Opt(epochs=3, keep_checkpoints=1), str(tmp_path), [mx.cpu()])
    assert [os.path.basename(p) for p in list_checkpoints(str(tmp_path / "checkpoints"))] == ["epoch-0002"]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [f"epoch-0002{x}" for x in
                                                            ("-release.params", ".json", ".params", ".states")]


def test_resume_after_a_kill_is_exact(tmp_path):
    ref = ToyTask()
    fit(ref, Opt(epochs=4), str(tmp_path / "ref"), [mx.cpu()])
    run = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        fit(ToyTask(kill_at=(2, 1)), Opt(epochs=4), run, [mx.cpu()])  # killed inside epoch 2
    assert latest_checkpoint(os.path.join(run, "checkpoints")).endswith("epoch-0001")
    task = ToyTask()
    out = fit(task, Opt(epochs=4), run, [mx.cpu()])
    assert [lr for _, lr in task.lrs] == [poly_lr(0.05, e, 4, 0.9) for e in (2, 3)]
    a, b = params_of(ref.net), params_of(task.net)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert np.array_equal(ref.state.asnumpy(), task.state.asnumpy())
    assert out["iteration"] == 4 * N // 8 and [h["epoch"] for h in out["history"]] == [0, 1, 2, 3]
    rows = open(os.path.join(run, "metrics.csv")).read().splitlines()
    ref_rows = open(tmp_path / "ref" / "metrics.csv").read().splitlines()
    assert [r.rsplit(",", 1)[0] for r in rows] == [r.rsplit(",", 1)[0] for r in ref_rows]
    assert fit(ToyTask(), Opt(epochs=4), run, [mx.cpu()])["iteration"] == out["iteration"]  # done: no-op


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    run = str(tmp_path)
    with pytest.raises(NonFiniteLossError) as err:
        fit(ToyTask(nan_at=(1, 1)), Opt(epochs=3, log_interval=10), run, [mx.cpu()])
    msg = str(err.value)
    assert "\n" not in msg and "non-finite loss" in msg and "epoch-0000" in msg
    ckpt = os.path.join(run, "checkpoints")
    assert [os.path.basename(p) for p in list_checkpoints(ckpt)] == ["epoch-0000"]
    assert not [f for f in os.listdir(ckpt) if "tmp" in f]
    assert "non-finite loss" in open(os.path.join(run, "log.txt")).read()


def test_checkpoint_of_another_network_is_an_input_error(tmp_path):
    fit(ToyTask(), Opt(epochs=1), str(tmp_path), [mx.cpu()])
    task = ToyTask()
    task.net = mx.gluon.nn.HybridSequential()
    task.net.add(mx.gluon.nn.Dense(3, in_units=2))
    task.net.initialize()
    with pytest.raises(InputError) as err:
        fit(task, Opt(epochs=2), str(tmp_path), [mx.cpu()])
    assert err.value.path.endswith("epoch-0000.params")
