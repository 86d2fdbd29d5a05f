"""The seed stage: ``<run>/scores/<kind>/<id>.npy`` -> ``<run>/seeds/<variant>/<id>.png``
(0..20, 255) and ``<run>/seeds/<variant>_color/<id>.png`` for every image of a list, each
image by :class:`icd_mx.seeds.SeedJob` in worker processes (docs/method.md, "Seeds").

Resumable: images whose outputs all exist are skipped; seeds made from other score maps
or settings are refused unless ``overwrite`` (docs/reliability.md).
"""
import os

from ..data import voc
from ..data.voc import VOCLayout, read_list
from ..errors import InputError
from ..io import bind_outputs, check_outputs, record_digest, run_lock
from ..pool import run_jobs
from ..seeds import SeedJob, default_variants


def _chunksize(n, workers):
    """Images per task: 1 for small runs (no worker left idle at the end, a CRF image
    costs far more than the message), up to 8 on large lists (fewer messages)."""
    return max(1, min(8, n // (workers * 32)))


def seeds_record(job, variant):
    """What a variant's seeds depend on: the score maps (their folder's record), the
    variant and the seed settings (:func:`icd_mx.io.bind_outputs`)."""
    c = job.cfg
    rec = {"scores": record_digest(job.score_root), "variant": [variant.kind, variant.mode], "size": job.size}
    if variant.mode == "crf":
        rec.update(crf_confidence=c.crf_confidence, crf_rest=c.crf_rest)
    if variant.mode == "cam_thr":
        rec["cam_threshold"] = c.cam_threshold
    if variant.mode == "sal":
        rec["saliency"] = os.path.abspath(job.layout.saliency_dir) if job.layout.saliency_dir else ""
    return rec


def _needed_kinds(job, id_):
    """The score kinds :meth:`SeedJob.compute` reads for ``id_``: every variant's, plus the CAM
    where an image with several classes settles overlaps by it (docs/method.md, "Seeds")."""
    kinds = {v.kind for v in job.variants}
    if "cam" not in kinds and any(v.mode != "cam_thr" for v in job.variants) \
            and len(voc.read_labels(job.layout.xml(id_))) > 1:
        kinds.add("cam")
    return sorted(kinds)


def generate_seeds(job, ids, workers=1, progress=True, overwrite=False):
    """Run :class:`SeedJob` over ``ids`` in worker processes (resumable).

    The run folder (the parent of ``job.out_root``) is locked for the stage
    (:func:`icd_mx.io.run_lock`). Score files are checked up front, so a missing file
    fails before any work with one InputError naming it. Each variant's folders are bound
    to :func:`seeds_record` once the inputs are checked: seeds made from other scores or
    settings are refused unless ``overwrite``.

    Returns
    -------
    dict
        ``{"images": n, "skipped": n_already_done}``.

    Raises
    ------
    InputError
        The first bad input met (by a worker or the up-front check).
    """
    with run_lock(os.path.dirname(os.path.abspath(job.out_root)), "seeds"):
        return _generate_seeds(job, ids, workers, progress, overwrite)


def _generate_seeds(job, ids, workers, progress, overwrite):
    folders = [(os.path.dirname(job.out_path(v, "x", color)), seeds_record(job, v))
               for v in job.variants for color in (False, True)]
    replaced = [check_outputs(folder, rec, overwrite) for folder, rec in folders]  # refuse before any write
    todo = list(ids) if any(replaced) else [i for i in ids if not job.done(i)]
    for id_ in todo:
        for kind in _needed_kinds(job, id_):
            p = job.score_path(kind, id_)
            if not os.path.isfile(p):
                raise InputError(p, "score file not found (run tools/infer.py first)")
    for folder, rec in folders:
        bind_outputs(folder, rec, overwrite)
    todo = [i for i in ids if not job.done(i)]
    workers = max(1, min(workers, len(todo)))
    run_jobs(job, todo, workers, progress, "seeds", chunksize=_chunksize(len(todo), workers))
    return {"images": len(ids), "skipped": len(ids) - len(todo)}


def run(cfg, run_dir=None, split=None, progress=True, overwrite=False):
    """The seeds of ``seeds.variants`` (default from ``seeds.crf`` / ``seeds.saliency``) for
    the ids of ``split`` (default ``seeds.split``) from ``<run_dir>/scores``; returns the
    stats with the variants and the output folder."""
    run_dir = run_dir or cfg.out_dir
    variants = default_variants(cfg.seeds)
    layout = VOCLayout(cfg.data.root, cfg.data.superpixel_dir, cfg.data.saliency_dir)
    ids = read_list(cfg.data.root, split or cfg.seeds.split)
    job = SeedJob(layout, os.path.join(run_dir, "scores"), os.path.join(run_dir, "seeds"), variants, cfg.seeds,
                  cfg.data.infer_size)
    stats = generate_seeds(job, ids, workers=cfg.seeds.workers, progress=progress, overwrite=overwrite)
    return dict(stats, variants=[v.name for v in variants], out=os.path.join(run_dir, "seeds"))
