"""The superpixel stage: FH then merging (:mod:`icd_mx.superpixels`) for every image of
the lists, written to ``<data.root>/<data.superpixel_dir>/<id>.png`` (docs/method.md,
"Superpixels").

Resumable: ids whose PNG exists are skipped. The folder is bound to the settings and
feature weights (:func:`superpixels_record`) and locked for the stage
(docs/reliability.md).
"""
import os

from ..data.voc import VOCLayout, read_list
from ..errors import InputError
from ..io import bind_outputs, check_outputs, file_digest, run_lock
from ..pool import run_jobs
from ..superpixels import VGGFeatures, feature_source, make_superpixels_batch


class SuperpixelJob:
    """A few images: read, segment, merge, write (picklable; used by worker processes)."""

    def __init__(self, layout, cfg, features):
        self.layout, self.cfg, self.features = layout, cfg, features

    def set_device(self, device):
        """The GPU of this worker's feature network (:func:`icd_mx.pool.run_jobs`)."""
        if isinstance(self.features, VGGFeatures):
            self.features.device = device

    def __call__(self, ids):
        """``[(id, None or (path, problem))]`` for ``ids`` (one id or a list)."""
        from ..data import superpixel_io, voc

        ids = [ids] if isinstance(ids, str) else list(ids)
        errors, todo, images = {}, [], []
        for id_ in ids:
            if os.path.isfile(self.layout.superpixel(id_)):
                continue
            try:
                images.append(voc.read_image(self.layout.image(id_)))
                todo.append(id_)
            except InputError as e:
                errors[id_] = (e.path, e.problem)
        if todo:
            for id_, sp in zip(todo, make_superpixels_batch(images, self.features, self.cfg)):
                try:
                    superpixel_io.write_superpixels(self.layout.superpixel(id_), sp)
                except InputError as e:
                    errors[id_] = (e.path, e.problem)
        return [(id_, errors.get(id_)) for id_ in ids]


def worker_devices(gpus, workers):
    """The device of each worker process: GPUs round-robin (``None``: the CPU)."""
    if not gpus:
        return [None] * workers
    return [gpus[i % len(gpus)] for i in range(max(workers, len(gpus)))]


def chunks(ids, size):
    """``ids`` cut into lists of at most ``size``."""
    size = max(1, int(size))
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def superpixels_record(cfg):
    """What the merged superpixels depend on (:func:`icd_mx.io.bind_outputs`)."""
    from .. import fh

    rec = {k: getattr(cfg, k) for k in ("sigma", "k", "min_size", "max_regions", "adjacent_only", "features")}
    rec["fh"] = fh.implementation()  # skimage's FH (before) and the Python fallback partition differently
    if cfg.features == "vgg":
        rec.update(feature_size=cfg.feature_size, feature_width=cfg.feature_width,
                   feature_params=file_digest(cfg.feature_params))
    return rec


def run_superpixels(layout, ids, cfg, features, workers=1, progress=True, overwrite=False):
    """Superpixels for ``ids`` (skipping existing outputs) in worker processes.

    The folder is bound to :func:`superpixels_record`: superpixels made with other
    settings or feature weights are refused unless ``overwrite``.

    Returns
    -------
    dict
        ``{"images": n, "skipped": n_existing}``.
    """
    replaced = check_outputs(layout.superpixel_dir, superpixels_record(cfg), overwrite)  # refuse, write nothing
    for i in (ids if replaced else [i for i in ids if not os.path.isfile(layout.superpixel(i))]):
        if not os.path.isfile(layout.image(i)):
            raise InputError(layout.image(i), "image not found")
    bind_outputs(layout.superpixel_dir, superpixels_record(cfg), overwrite)  # bound once the inputs are there
    todo = [i for i in ids if not os.path.isfile(layout.superpixel(i))]
    job = SuperpixelJob(layout, cfg, features)
    gpus = list(cfg.gpus) if isinstance(features, VGGFeatures) else []
    if gpus:
        job.set_device(gpus[0])  # one batch runs here, on the first GPU
    batches = chunks(todo, cfg.batch_size if gpus else 1)  # CPU: one image per task, as many tasks as workers
    run_jobs(job, batches, workers, progress, "superpixels", devices=worker_devices(gpus, workers) if gpus else None,
             total=len(todo))
    return {"images": len(ids), "skipped": len(ids) - len(todo)}


def run(cfg, lists=None, progress=True, overwrite=False):
    """Superpixels of every id of ``lists`` (default: ``data.train_list`` and ``data.val_list``);
    returns ``{"images", "skipped", "out"}``."""
    layout = VOCLayout(cfg.data.root, cfg.data.superpixel_dir)
    ids = []
    for name in lists or [cfg.data.train_list, cfg.data.val_list]:
        ids += [i for i in read_list(cfg.data.root, name) if i not in ids]
    features = feature_source(cfg.superpixels)
    with run_lock(layout.superpixel_dir, "superpixels"):  # the stage's output folder (docs/reliability.md)
        stats = run_superpixels(layout, ids, cfg.superpixels, features, workers=cfg.superpixels.workers,
                                progress=progress, overwrite=overwrite)
    return dict(stats, out=layout.superpixel_dir)
