"""icd-mx side by side with the authors' release, js-fan/ICD (docs/method.md, "Parity").

:func:`compare_with_release` builds both networks on the same parameters (the seeded
rule of :mod:`icd_mx.compat.parity`, a release snapshot, or one of our checkpoints) and
runs, on the same batch, what a user runs: the input each side's own loader makes, the
four inference maps, the superpixel refinement, 1-3 SGD steps (outputs, parameters,
sign-flip state, BN statistics), CRF/saliency seeds from one set of score files and
the mIoU of those seeds. :func:`compare_folders` diffs two folders of score maps
(``.npy``) or seed PNGs, e.g. the release's ``results/`` against icd-mx's.

Nothing of the release is copied here: its modules are imported from the user's
checkout (:func:`import_release`) and its graph is composed from its own functions and
custom operators, as ``run_icd.build_model`` composes it, on the CPU and with Dropout
off (its masks come from MXNet's generator). Both sides use the release's optimizer
(SGD, momentum 0.9, weight decay 5e-4, lr_mult 10 on fc8 and conv_ft, its
per-device sign-flip average starting at zero) and a TD warm-up of ``warmup``
iterations, so that a few steps cover the warm-up ramp and the full TD gradient.

Every row is a maximum difference and a pass/fail at the tolerance of :data:`TOL`:
float maps relative to the largest magnitude of the release's map, integer maps in
differing pixels, the mIoU in absolute IoU.
"""
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
from types import SimpleNamespace

import numpy as np

from ..errors import InputError

RELEASE_URL = "https://github.com/js-fan/ICD"
WHERE = (f"--release: path of a checkout of the authors' release: git clone {RELEASE_URL} (nothing is "
         "downloaded for you; it runs with this project's Python and MXNet)")
NUM_CLASSES = 20
KINDS = ("cam", "icd_bu", "icd_bu_sp", "icd_td")
# Tolerances (relative to the reference's largest magnitude unless the gate is "abs").
# float32 maps from identical inputs differ between convolution back-ends by ~1e-5
# (measured: <= 5e-7). Training amplifies those rounding differences ~50x per step
# (BatchNorm on batch statistics divides near-constant conv5_3 channels by sqrt(var +
# 1e-5)): measured step 1 / 2 / 3 outputs differ by ~2e-7 / 1.5e-5 / 2.4e-4 on the golden
# fixtures' batch and 1.3e-3 at step 3 on mini-VOC images, with the release's graph
# reproducing its golden outputs exactly. Hence 1e-4 / 1e-3 / 1e-2 for steps 1 / 2 / 3;
# a real divergence (e.g. the refinement's normalisation, 1.16) is far above them.
TOL = {"input": 0.0, "map": 1e-4, "refine": 1e-5, "step1": 1e-4, "step2": 1e-3, "step3": 1e-2, "pixels": 0,
       "miou": 1e-6}
# The release's graph, as a ModelConfig: keys a config must not change for a comparison.
RELEASE_MODEL = {"mode": "icd", "bu_feature": "conv5", "bu_loss": "bu", "td_structure": "c", "bn_beta": "learn",
                 "grad_scale": 10.0, "signflip_momentum": 0.9, "td_threshold": 0.2}


# ---- rows -------------------------------------------------------------------------
def diff_row(check, got, ref, tol, note=""):
    """Max abs difference and max abs difference / max |ref| of two float arrays."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return _row(check, None, None, tol, "rel", f"shape {got.shape} vs {ref.shape}")
    err = float(np.abs(got - ref).max()) if got.size else 0.0
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    return _row(check, err, err / scale if scale > 0 else err, tol, "rel", note)


def pixel_row(check, got, ref, tol=TOL["pixels"], note=""):
    """Count (and share) of differing entries of two integer maps."""
    got, ref = np.asarray(got), np.asarray(ref)
    if got.shape != ref.shape:
        return _row(check, None, None, tol, "abs", f"shape {got.shape} vs {ref.shape}")
    bad = int((got != ref).sum())
    return _row(check, bad, bad / max(got.size, 1), tol, "abs", note)


def _row(check, max_abs, max_rel, tol, gate, note=""):
    value = max_rel if gate == "rel" else max_abs
    ok = value is not None and bool(np.isfinite(value)) and value <= tol
    return {"check": check, "max_abs": max_abs, "max_rel": max_rel, "tol": tol, "gate": gate, "ok": ok,
            "note": note}


def _fmt(x):
    if x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    return "0" if x == 0 else f"{x:.2e}"


def format_table(rows):
    """The rows as a text table, with a closing line counting the failures."""
    width = max([len(r["check"]) for r in rows] + [5])
    lines = [f"{'check':<{width}}  {'max abs':>9}  {'max rel':>9}  {'tolerance':<15}  result"]
    for r in rows:
        tol = f"{r['gate']} <= {_fmt(r['tol'])}"
        line = (f"{r['check']:<{width}}  {_fmt(r['max_abs']):>9}  {_fmt(r['max_rel']):>9}  {tol:<15}  "
                f"{'pass' if r['ok'] else 'FAIL'}")
        lines.append(line + (f"  ({r['note']})" if r["note"] else ""))
    bad = sum(not r["ok"] for r in rows)
    lines.append(f"{len(rows) - bad} of {len(rows)} checks pass" + (f", {bad} FAIL" if bad else ""))
    return "\n".join(lines)


def report(result, json_path=None, out=None):
    """Print ``result``'s table (or, with ``json_path == "-"``, its JSON) and write the JSON
    to ``json_path``; returns the exit status: 0 when every row passes, 1 otherwise."""
    out = out or sys.stdout
    text = json.dumps(result, indent=1)
    if json_path == "-":
        print(text, file=out)
    else:
        print(format_table(result["rows"]), file=out)
        if json_path:
            from ..io import atomic_path

            with atomic_path(json_path) as tmp, open(tmp, "w") as f:
                f.write(text + "\n")
    return 0 if result["ok"] else 1


def _result(mode, rows, **meta):
    return dict(mode=mode, **meta, rows=rows, ok=all(r["ok"] for r in rows))


# ---- folder diffs -------------------------------------------------------------------
def _read_seed(path):
    from ..data.voc import read_mask

    return read_mask(path)


def compare_folders(kind, a, b, max_rows=20):
    """Diff the ``.npy`` score maps (``kind="scores"``) or seed PNGs (``"seeds"``) present in
    both folders ``a`` (ours) and ``b`` (the reference); files in only one folder fail a row.

    Score maps are compared relative to each reference map's largest magnitude at
    :data:`TOL` ``["map"]``; seeds pixel for pixel. With more than ``max_rows`` files, the
    worst ``max_rows // 2`` are listed and one row sums up all of them.
    """
    ext = ".npy" if kind == "scores" else ".png"
    names = {}
    for folder in (a, b):
        if not os.path.isdir(folder):
            raise InputError(folder, "folder not found")
        names[folder] = {f[:-len(ext)] for f in os.listdir(folder) if f.endswith(ext)}
    common = sorted(names[a] & names[b])
    if not common:
        raise InputError(b, f"no {ext} file in common with {a}")
    rows = []
    for name in common:
        pa, pb = os.path.join(a, name + ext), os.path.join(b, name + ext)
        if kind == "scores":
            rows.append(diff_row(name, _load_npy(pa), _load_npy(pb), TOL["map"]))
        else:
            rows.append(pixel_row(name, _read_seed(pa), _read_seed(pb)))
    if len(rows) > max_rows:
        key = "max_rel" if kind == "scores" else "max_abs"
        worst = sorted(rows, key=lambda r: (r["ok"], -(r[key] if r[key] is not None else np.inf)))
        bad = sum(not r["ok"] for r in rows)
        summary = _row(f"all {len(rows)} files", max((r["max_abs"] or 0) for r in rows),
                       max((r["max_rel"] or 0) for r in rows), rows[0]["tol"], rows[0]["gate"],
                       f"{bad} fail" if bad else "")
        summary["ok"] = not bad
        rows = worst[:max_rows // 2] + [summary]
    for folder, other in ((a, b), (b, a)):
        only = sorted(names[folder] - names[other])
        if only:
            rows.append(_row(f"only in {folder}", len(only), None, 0, "abs", ", ".join(only[:5])
                             + (f" (+{len(only) - 5} more)" if len(only) > 5 else "")))
    return _result(kind, rows, a=a, b=b, files=len(common))


def _load_npy(path):
    try:
        return np.load(path)
    except Exception as e:
        raise InputError(path, f"not a readable .npy ({e.__class__.__name__})")


# ---- the release, imported from the user's checkout ----------------------------------
def import_release(path):
    """The release's modules from a checkout at ``path`` (imported, which registers its
    custom operators): ``run_icd``, ``compute_iou``, ``vgg`` (core.model.vgg) and
    ``loader`` (core.data.VOC.voc_wsss_sp_loader)."""
    if not path:
        raise InputError("--release", WHERE.split(": ", 1)[1])
    path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(path, "run_icd.py")):
        raise InputError(path, f"not a checkout of js-fan/ICD (no run_icd.py); get one with git clone {RELEASE_URL}")
    sys.path.insert(0, path)
    try:
        import compute_iou
        import run_icd
        from core.data.VOC import voc_wsss_sp_loader
        from core.model import vgg
    except Exception as e:
        raise InputError(path, f"the release does not import here ({e.__class__.__name__}: {e})")
    finally:
        sys.path.remove(path)
    if not os.path.abspath(run_icd.__file__).startswith(path + os.sep):
        raise InputError(path, f"another run_icd module is already imported ({run_icd.__file__})")
    return SimpleNamespace(path=path, run_icd=run_icd, compute_iou=compute_iou, vgg=vgg, loader=voc_wsss_sp_loader)


@contextlib.contextmanager
def _no_dropout(rel):
    """vgg16_cam builds drop6/drop7 with the module's ``Drop``: identity while composing."""
    drop = rel.vgg.Drop
    rel.vgg.Drop = lambda x, *args, **kwargs: x
    try:
        yield
    finally:
        rel.vgg.Drop = drop


def release_symbol(rel, for_training, warmup=2):
    """The release's ICD graph composed from its own functions and operators, as
    ``run_icd.build_model`` composes it (Dropout off, TD warm-up ``warmup``)."""
    r = rel.run_icd
    mx = r.mx
    with _no_dropout(rel):
        cam = rel.vgg.vgg16_cam(mx.sym.Variable("data") - 127, num_cls=NUM_CLASSES)
    label, sp = mx.sym.Variable("label"), mx.sym.Variable("superpixel")
    cam_sigmoid = mx.sym.Custom(r.Flatten(r.Pool(cam, kernel=(1, 1), global_pool=True, pool_type="avg")), label,
                                op_type="MultiSigmoidLoss")
    feat = r.BN(cam.get_internals()["conv5_3_relu_output"], fix_gamma=True, use_global_stats=not for_training,
                name="feat_bn")
    bu = mx.sym.Custom(feat, label, grad_scale=10, op_type="ICD_BottomUp", name="icd_bu")
    bu = mx.sym.Custom(bu, cam, label, momentum=0.9, op_type="AccumResign", name="icd_accum_resign")
    f6 = r.Relu(r.Conv(feat, num_filter=1024, kernel=(3, 3), pad=(1, 1), name="fc6_ft"))
    f7 = r.Relu(r.Conv(f6, num_filter=1024, kernel=(1, 1), name="fc7_ft"))
    bu_sp = mx.sym.Custom(bu, sp, label, op_type="SPRefine")
    td = r.Conv(mx.sym.concat(feat, f6, f7, dim=1), num_filter=NUM_CLASSES, kernel=(1, 1), no_bias=True,
                name="conv_ft", lr_mult=10)
    if for_training:
        td = mx.sym.Custom(td, label, bu_sp, warmup=warmup, op_type="ICD_TopDown", name="icd_td")
        return mx.sym.Group([cam_sigmoid, bu, td])
    return mx.sym.Group([cam, bu, bu_sp, td])


def release_module(rel, symbol, batch, params, for_training, lr=1e-3):
    """A CPU ``mx.mod.Module`` of ``symbol`` bound to ``batch``'s shapes, holding
    ``params`` (``{"arg:NAME"|"aux:NAME": NDArray}``), with the release's optimizer."""
    mx = rel.run_icd.mx
    img, sp, label = batch
    mod = mx.mod.Module(symbol, data_names=("data", "superpixel"), label_names=("label",), context=mx.cpu())
    mod.bind(data_shapes=[("data", img.shape), ("superpixel", sp.shape)], label_shapes=[("label", label.shape)],
             for_training=for_training)
    arg = {k[4:]: v.copy() for k, v in params.items() if k.startswith("arg:")}
    aux = {k[4:]: v.copy() for k, v in params.items() if k.startswith("aux:")}
    wanted = set(symbol.list_arguments()) - {"data", "superpixel", "label"} | set(symbol.list_auxiliary_states())
    if wanted != set(arg) | set(aux):
        raise InputError(rel.path, "the release's graph has other parameters than icd-mx's: "
                         + ", ".join(sorted(wanted ^ (set(arg) | set(aux)))[:6]))
    mod.init_params(arg_params=arg, aux_params=aux)
    if for_training:
        mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": lr, "momentum": 0.9, "wd": 5e-4})
        mod._optimizer.lr = lr  # the release's poly schedule at epoch 0
    return mod


def release_batch(rel, batch):
    mx = rel.run_icd.mx
    return mx.io.DataBatch(data=[batch[0], batch[1]], label=[batch[2]])


def release_loader_input(rel, layout, ids, size):
    """``(img, sp, label)`` numpy arrays from the release's own inference loader
    (``load_batch_sp``, no augmentation); its random superpixel relabelling leaves
    numpy's global generator as it was."""
    state = np.random.get_state()
    try:
        labels = [rel.run_icd.VOC.get_annotation(layout.xml(i)) for i in ids]
        b = rel.loader.load_batch_sp([layout.image(i) for i in ids], labels, [layout.superpixel(i) for i in ids],
                                     size, None, False, False, False)
    finally:
        np.random.set_state(state)
    return b.data[0].asnumpy(), b.data[1].asnumpy(), b.label[0].asnumpy()


def release_side(rel, batch, params, steps, warmup, lr):
    """The release's inference maps and ``steps`` training steps on ``batch``:
    ``{"maps": {kind: array}, "steps": [{"outputs": {...}, "params": {...}}, ...]}``."""
    mx = rel.run_icd.mx
    mod = release_module(rel, release_symbol(rel, False), batch, params, False)
    mod.forward(release_batch(rel, batch), is_train=False)
    maps = dict(zip(KINDS, (o.asnumpy() for o in mod.get_outputs())))
    mod = release_module(rel, release_symbol(rel, True, warmup), batch, params, True, lr)
    out = []
    for _ in range(steps):
        mod.forward_backward(release_batch(rel, batch))
        mod.update()
        cam_sigmoid, icd_bu, icd_td_sigmoid = (o.asnumpy() for o in mod.get_outputs())
        # BatchNorm's oneDNN backward writes the moving statistics without the engine
        # ordering that write before Module's copy: get_params() would read stale values.
        mx.nd.waitall()
        arg, aux = mod.get_params()
        state = {k: v.asnumpy() for k, v in list(arg.items()) + list(aux.items())}
        out.append({"outputs": {"cam_sigmoid": cam_sigmoid, "icd_bu": icd_bu, "icd_td_sigmoid": icd_td_sigmoid},
                    "params": state})
    return {"maps": maps, "steps": out}


def release_refine(rel, score, sp, label):
    mx = rel.run_icd.mx
    return mx.nd.Custom(mx.nd.array(score), mx.nd.array(sp), mx.nd.array(label), op_type="SPRefine").asnumpy()


# ---- icd-mx --------------------------------------------------------------------------
def fixture_input(image_rgb):
    """``(N, H, W, 3)`` uint8 RGB -> the NCHW float32 data the release's golden outputs
    (tests/fixtures/release) were computed from: channels reversed (BGR).

    (The release's own loader hands its graph RGB: it reverses OpenCV's BGR with an
    NDArray slice ``[:, ::-1]``, as icd-mx's loader does; :func:`compare_with_release`'s
    input row checks that. Both sides of a comparison get the same tensor either way.)
    """
    import mxnet as mx

    return mx.nd.array(image_rgb[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32))


def snapshot(net):
    """``{release name: ndarray}`` of every parameter of ``net``."""
    from .release import release_names

    return {n: p.data().asnumpy().copy() for n, (p, _) in release_names(net).items()}


def train_steps(net, batch, steps, lr=1e-3, warmup=2, outputs=None):
    """``steps`` SGD steps of ``net`` on ``batch`` (NDArrays ``(img, sp, label)``) through the
    engine (``make_trainer``, ``_train_step``) with the release's optimizer settings.

    Returns the parameter snapshots (:func:`snapshot`) before and after each step;
    ``outputs`` (a list) receives each step's ``forward_train`` outputs.
    """
    import mxnet as mx

    from ..config import TrainConfig
    from ..engine.trainer import StepInfo, _train_step, make_trainer

    net.td_warmup_iters = warmup
    opt = TrainConfig(lr=lr, momentum=0.9, wd=5e-4, batch_size=int(batch[0].shape[0]))
    outputs = [] if outputs is None else outputs
    run = SimpleNamespace(contexts=[mx.cpu()], num_workers=1, trainer=make_trainer(net.collect_params(), opt),
                          task=SimpleNamespace(forward_train=lambda b, s: net.forward_train(b, s, outputs)))
    states = [snapshot(net)]
    for k in range(steps):
        _train_step(run, batch, StepInfo(0, k, 1, None, lr))
        mx.nd.waitall()  # see release_side: the BN statistics are written in the backward pass
        states.append(snapshot(net))
    return states


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ours_side(net, batch, steps, warmup, lr):
    """icd-mx's inference maps and training steps, in :func:`release_side`'s format."""
    maps = {k: v.asnumpy() for k, v in net.infer(*batch).items()}
    outputs = []
    states = train_steps(net, batch, steps, lr, warmup, outputs)
    out = [{"outputs": {"cam_sigmoid": _sigmoid(o["logits"].asnumpy()), "icd_bu": o["icd_bu"].asnumpy(),
                        "icd_td_sigmoid": _sigmoid(o["icd_td"].asnumpy())}, "params": s}
           for o, s in zip(outputs, states[1:])]
    return {"maps": maps, "steps": out}


def compare_sides(ours, ref):
    """Rows for every map, step output and state that ``ref`` holds (a side of
    :func:`release_side`'s format; its steps may lack ``params`` or hold only some)."""
    rows = [diff_row(f"map {k}", ours["maps"][k], v, TOL["map"]) for k, v in ref.get("maps", {}).items()]
    for k, (mine, theirs) in enumerate(zip(ours["steps"], ref.get("steps", [])), 1):
        tol = TOL[f"step{k}"]
        for name, v in theirs.get("outputs", {}).items():
            rows.append(diff_row(f"step {k} {name}", mine["outputs"][name], v, tol))
        params = theirs.get("params", {})
        state = {"sign-flip state": ["icd_accum_resign_moving_mean"],
                 "BN moving stats": ["feat_bn_moving_mean", "feat_bn_moving_var"]}
        for check, names in state.items():
            names = [n for n in names if n in params]
            if names:
                rows.append(max((diff_row(f"step {k} {check}", mine["params"][n], params[n], tol, n) for n in names),
                                key=lambda r: r["max_rel"]))
        learned = [n for n in params if not any(n in names for names in state.values())]
        if learned:
            worst = max((diff_row(f"step {k} parameters ({len(learned)})", mine["params"][n], params[n], tol,
                                  f"worst {n}") for n in learned), key=lambda r: r["max_rel"])
            rows.append(worst)
    return rows


# ---- set-up ----------------------------------------------------------------------------
def comparison_model(model_cfg):
    """``model_cfg`` as the release's graph: full width, no dropout (in both graphs), the
    release's per-device sign-flip update. Keys the release fixes must keep its values."""
    for key, value in RELEASE_MODEL.items():
        if getattr(model_cfg, key) != value:
            have = getattr(model_cfg, key)
            raise InputError(f"model.{key}", f"the release's graph has {value!r}, this config {have!r}")
    return dataclasses.replace(model_cfg, width=1.0, dropout=0.0, signflip_sync="per_device")


def _file_width(arrays):
    for key, v in arrays.items():
        if key.replace(".", "_").endswith("conv1_1_weight"):
            return v.shape[0] / 64.0
    return None


def build_ours(model_cfg, params=None):
    """icd-mx's net for the comparison on the seeded parameters or the file ``params``
    (ours, a release snapshot or the 20M init); a file at another width than the
    release's full width is an InputError."""
    import mxnet as mx

    from ..io import load_param_file
    from ..nn import ICDNet
    from .parity import seed_net
    from .release import load_params

    net = ICDNet(comparison_model(model_cfg))
    if not params:
        return seed_net(net, mx.cpu())
    if not os.path.isfile(params):
        raise InputError(params, "parameter file not found")
    width = _file_width(load_param_file(params))
    if width is not None and width != 1.0:
        raise InputError(params, f"a width-{width:g} checkpoint; the release's graph is full width (model.width 1.0)")
    net.initialize(ctx=mx.cpu())
    load_params(net, params, mx.cpu())
    return net


def default_ids(cfg, n=2):
    from ..data.voc import read_list

    return read_list(cfg.data.root, cfg.data.train_list)[:n]


def load_batch(cfg, ids, size):
    """icd-mx's inference input of ``ids`` at ``size``: ``(dataset, (img, sp, label) NDArrays)``."""
    import mxnet as mx

    from ..data.datasets import ICDInferDataset

    data = ICDInferDataset(dataclasses.replace(cfg.data, infer_size=size), ids, cfg.model.max_superpixels)
    items = [data.get(i) for i in range(len(ids))]
    return data, tuple(mx.nd.array(np.stack([it[j] for it in items])) for j in range(3))


def partition_row(check, got, ref):
    """Pixels where two superpixel maps disagree up to a renaming of the ids."""
    bad = np.zeros(got.shape, bool)
    for a, b in ((got, ref), (ref, got)):
        for n in range(a.shape[0]):
            lut = {}
            for x, y in zip(a[n].ravel(), b[n].ravel()):
                lut.setdefault(x, y)
            bad[n] |= np.vectorize(lut.get)(a[n]) != b[n]
    return _row(check, int(bad.sum()), bad.mean(), TOL["pixels"], "abs", "ids up to renaming")


# ---- seeds and mIoU ----------------------------------------------------------------
def seed_rows(rel, cfg, layout, ids, dataset, maps, size, tmp):
    """Seeds of both sides from one set of score files (our ``icd_td`` and ``cam`` maps in
    the release's format), then the CRF seeds' mIoU by each side's evaluator."""
    import cv2

    from .. import metrics, seeds
    from ..data.voc import read_mask

    score_root = os.path.join(tmp, "scores")
    for kind in ("icd_td", "cam"):
        os.makedirs(os.path.join(score_root, kind), exist_ok=True)
        for n, id_ in enumerate(ids):
            present = np.nonzero(dataset.labels[n])[0]
            np.save(os.path.join(score_root, kind, id_ + ".npy"), maps[kind][n][present])
    modes = ["crf"] + (["sal"] if layout.saliency_dir and all(os.path.isfile(layout.saliency(i)) for i in ids) else [])
    variants = [seeds.parse_variant(m, "icd_td") for m in modes]
    job = seeds.SeedJob(layout, score_root, os.path.join(tmp, "ours"), variants, cfg.seeds, size)
    theirs_root = os.path.join(tmp, "release")
    img_root, ann_root = os.path.dirname(layout.image("x")), os.path.dirname(layout.xml("x"))
    rows, conf = [], 0
    for mode in modes:
        sal_root = layout.saliency_dir if mode == "sal" else None
        got, ref = [], []
        for id_ in ids:
            rel.run_icd._generate_seed(id_, os.path.join(score_root, "cam"), os.path.join(score_root, "icd_td"),
                                       img_root, ann_root, sal_root, theirs_root, size, NUM_CLASSES + 1, 0.5)
            ref.append(cv2.imread(os.path.join(theirs_root, mode, id_ + ".png"), 0))
            got.append(job.compute(id_)[mode])
            if mode == "crf":
                conf = conf + metrics.confusion(read_mask(layout.mask(id_)), got[-1])
        rows.append(pixel_row(f"seeds {mode} (pixels)", np.concatenate([g.ravel() for g in got]),
                              np.concatenate([r.ravel() for r in ref])))
        if mode == "crf":
            theirs = rel.compute_iou.compute_iou(list(ids), NUM_CLASSES + 1, os.path.join(theirs_root, "crf"),
                                                 layout.mask_dir, num_threads=1)
            mine = metrics.iou_from_confusion(conf)
            rows.append(_row("mIoU of the crf seeds", float(np.abs(mine - theirs).max()), None, TOL["miou"], "abs",
                             f"mIoU icd-mx {100 * mine.mean():.2f} %, release {100 * theirs.mean():.2f} %"))
    return rows


# ---- the whole comparison ----------------------------------------------------------
def compare_with_release(release_path, cfg, ids=None, params=None, steps=3, size=161, warmup=2, lr=1e-3,
                         progress=None):
    """Run both sides (module docstring) and return ``{"mode": "release", ..., "rows", "ok"}``."""
    import mxnet as mx

    from ..data.voc import VOCLayout
    from ..nn.refine import refine
    from .release import export_release

    if not 1 <= steps <= 3:
        raise InputError("--steps", f"1 to 3 training steps, not {steps}")
    say = progress or (lambda msg: None)
    rel = import_release(release_path)
    ids = list(ids or default_ids(cfg))
    layout = VOCLayout(cfg.data.root, cfg.data.superpixel_dir, cfg.data.saliency_dir)
    dataset, batch = load_batch(cfg, ids, size)
    net = build_ours(cfg.model, params)
    with tempfile.TemporaryDirectory() as tmp:
        export_release(net, os.path.join(tmp, "params"))
        shared = mx.nd.load(os.path.join(tmp, "params"))
        img, sp, label = release_loader_input(rel, layout, ids, size)
        rows = [diff_row("input image (release loader)", batch[0].asnumpy(), img, TOL["input"]),
                partition_row("input superpixels (pixels)", batch[1].asnumpy().astype(int), sp.astype(int)),
                pixel_row("input labels", batch[2].asnumpy(), label)]
        say("release: inference and training steps")
        theirs = release_side(rel, batch, shared, steps, warmup, lr)
        say("icd-mx: inference and training steps")
        ours = ours_side(net, batch, steps, warmup, lr)
        rows += compare_sides({"maps": ours["maps"], "steps": []}, {"maps": theirs["maps"]})
        bu = theirs["maps"]["icd_bu"]
        sp_np, label_np = batch[1].asnumpy(), batch[2].asnumpy()
        mine = refine(mx.nd, mx.nd.array(bu), mx.nd.array(label_np), mx.nd.array(sp_np), cfg.model.max_superpixels,
                      NUM_CLASSES).asnumpy()
        rows.append(diff_row("refine (same input)", mine, release_refine(rel, bu, sp_np, label_np), TOL["refine"]))
        rows += compare_sides({"maps": {}, "steps": ours["steps"]}, {"steps": theirs["steps"]})
        say("seeds and mIoU")
        rows += seed_rows(rel, cfg, layout, ids, dataset, ours["maps"], size, tmp)
    return _result("release", rows, release=rel.path, ids=ids, params=params or "seeded", steps=steps, size=size,
                   warmup=warmup, lr=lr)
