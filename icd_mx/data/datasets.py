"""Gluon datasets of the ICD and segmentation stages and a deterministic loader.

- :class:`ICDTrainDataset` items: ``(img (3,C,C) float32, sp (C,C) int32, label (20,) float32)``
  with the release's augmentation (:func:`~icd_mx.data.transforms.train_transform`).
- :class:`SegTrainDataset` items: ``(img (3,C,C) float32, label (C,C) float32)``: seeds for
  DeepLab (:func:`~icd_mx.data.transforms.seg_transform`).
- :class:`ICDInferDataset` items: ``(img (3,S,S), sp (S,S), label (20,), index)`` padded to
  ``infer_size`` (:func:`~icd_mx.data.transforms.infer_transform`).
- :func:`make_loader`: a ``mxnet.gluon.data.DataLoader`` whose randomness depends only on
  ``(seed, epoch, index)`` (each sample) and ``(seed, epoch)`` (the order), never on the
  number of workers.

Bad input (``DataConfig.on_bad_sample``): ``error`` raises a one-line
:class:`~icd_mx.errors.InputError`; ``skip`` drops samples with missing files or bad
XML at construction (one warning with the count), and replaces a sample that fails
while loading by the next good one, counting it; the loader logs a summary per epoch.
"""
import logging
import os

import numpy as np
from mxnet.gluon.data import BatchSampler, DataLoader, Dataset
from mxnet.gluon.data.dataloader import default_batchify_fn, default_mp_batchify_fn

from ..errors import InputError
from .superpixel_io import read_superpixels
from .transforms import infer_transform, seg_transform, train_transform
from .voc import VOCLayout, image_size, label_vector, read_image, read_labels, read_list, read_mask

logger = logging.getLogger(__name__)


def sample_rng(seed, epoch, index):
    """The RandomState of one sample in one epoch (independent of workers and order)."""
    return np.random.RandomState(np.random.SeedSequence([seed, epoch], spawn_key=(0, index)).generate_state(4))


def epoch_order(n, seed, epoch, shuffle):
    """Sample order of an epoch: a permutation drawn from ``(seed, epoch)``, or ``0..n-1``."""
    if not shuffle:
        return np.arange(n)
    rng = np.random.RandomState(np.random.SeedSequence([seed, epoch], spawn_key=(1,)).generate_state(4))
    return rng.permutation(n)


class _ListDataset(Dataset):
    """A list of samples whose files must exist, with the bad-sample policy of
    ``data.on_bad_sample``: the ICD datasets and the segmentation stage's seed dataset."""

    cfg = None

    @property
    def skip(self):
        return self.cfg.on_bad_sample == "skip"

    def files(self, id_):
        """The files sample ``id_`` needs."""
        raise NotImplementedError

    def _present(self, ids):
        """``ids`` whose files all exist: an InputError naming the first missing file, or in
        skip mode one warning with the count and the rest of the ids."""
        if not ids:  # a list file with no ids is refused by read_list, naming the file
            raise InputError(self.cfg.root, "no sample ids given")
        missing = [(i, p) for i in ids for p in self.files(i) if not os.path.isfile(p)]
        if missing:
            bad = sorted({i for i, _ in missing})
            problem = f"file not found ({len(missing)} missing files in {len(bad)} of {len(ids)} samples)"
            if not self.skip:
                raise InputError(missing[0][1], problem)
            logger.warning("skipping %d samples: %s: %s", len(bad), missing[0][1], problem)
            ids = [i for i in ids if i not in set(bad)]
            if not ids:
                raise InputError(self.cfg.root, "no usable sample left")
        return ids

    def __len__(self):
        return len(self.ids)

    def get(self, index, seed=0, epoch=0):
        """Item ``index`` with the randomness of ``(seed, epoch, index)``."""
        raise NotImplementedError

    def __getitem__(self, index):
        return self.get(index)


class _ICDBase(_ListDataset):
    def __init__(self, data_cfg, ids, max_superpixels=65):
        self.cfg = data_cfg
        self.max_superpixels = max_superpixels  # model.max_superpixels: <= 64 merged ids + the padding id
        self.layout = VOCLayout(data_cfg.root, data_cfg.superpixel_dir, data_cfg.saliency_dir)
        if isinstance(ids, str):
            ids = read_list(data_cfg.root, ids)
        self.ids, self.labels = self._scan(list(ids))

    def files(self, id_):
        return self.layout.image(id_), self.layout.xml(id_), self.layout.superpixel(id_)

    def _scan(self, ids):
        """Check that every file exists and read the XML labels (fail early; docs/method.md,
        "Data conventions", for the label rule)."""
        ids = self._present(ids)
        keep, labels, bad_xml = [], [], []
        for i in ids:
            try:
                labels.append(label_vector(read_labels(self.layout.xml(i))))
                keep.append(i)
            except InputError as e:
                if not self.skip:
                    raise
                bad_xml.append(e)
        if bad_xml:
            logger.warning("skipping %d samples with bad XML, first: %s", len(bad_xml), bad_xml[0])
        if not keep:
            raise InputError(self.cfg.root, "no usable sample left")
        return keep, labels

    def _load(self, index):
        id_ = self.ids[index]
        img = read_image(self.layout.image(id_))
        sp = read_superpixels(self.layout.superpixel(id_), shape=img.shape[:2])
        count = len(np.unique(sp))
        if count >= self.max_superpixels:  # the refinement's one-hot would drop the extra ids silently
            raise InputError(self.layout.superpixel(id_), f"{count} superpixels, more than the "
                             f"{self.max_superpixels - 1} model.max_superpixels allows (merge them with "
                             "tools/superpixels.py, superpixels.max_regions)")
        return img, sp


class ICDTrainDataset(_ICDBase):
    """Training samples ``(img, sp, label)`` with the release's augmentation.

    Parameters
    ----------
    data_cfg : icd_mx.config.DataConfig
        ``root``, ``superpixel_dir``, ``crop_size``, ``scales``, ``on_bad_sample``.
    ids : list of str or str
        Image ids, or a list name / path for :func:`~icd_mx.data.voc.read_list`.
    """

    def get(self, index, seed=0, epoch=0):
        img, sp = self._load(index)
        img, sp = train_transform(img, sp, sample_rng(seed, epoch, index), self.cfg.crop_size, self.cfg.scales)
        return img, sp, self.labels[index]


class ICDInferDataset(_ICDBase):
    """Inference samples ``(img, sp, label, index)`` padded to ``data_cfg.infer_size``.

    The original size of item ``index`` is :meth:`original_size`; its id ``self.ids[index]``.
    """

    def get(self, index, seed=0, epoch=0):
        img, sp = self._load(index)
        try:
            img, sp, _ = infer_transform(img, sp, self.cfg.infer_size)
        except ValueError as e:
            raise InputError(self.layout.image(self.ids[index]), str(e))
        return img, sp, self.labels[index], index

    def original_size(self, index):
        """``(h, w)`` of the image of item ``index``."""
        return image_size(self.layout.image(self.ids[index]))


class SegTrainDataset(_ListDataset):
    """Images with seed label maps for the segmentation stage, items
    ``(img (3,C,C) float32, label (C,C) float32)`` (:func:`~icd_mx.data.transforms.seg_transform`).

    Parameters
    ----------
    data_cfg : icd_mx.config.DataConfig
        ``root`` and ``on_bad_sample``.
    seg_cfg : icd_mx.config.SegConfig
        ``seeds`` (folder of ``<id>.png``), ``crop_size``, ``scales``.
    ids : list of str or str
        Image ids, or a list name / path.

    Raises
    ------
    InputError
        Empty list, no seed folder, a missing image or seed (the first one is named).
        A seed whose size differs from its image fails when loaded, naming the seed.
    """

    def __init__(self, data_cfg, seg_cfg, ids):
        self.cfg, self.seg = data_cfg, seg_cfg
        self.layout = VOCLayout(data_cfg.root)
        if not seg_cfg.seeds or not os.path.isdir(seg_cfg.seeds):
            raise InputError(seg_cfg.seeds or "seg.seeds", "seed folder not found")
        if isinstance(ids, str):
            ids = read_list(data_cfg.root, ids)
        self.ids = self._present(list(ids))

    def seed_path(self, id_):
        """``<seg.seeds>/<id>.png``."""
        return os.path.join(self.seg.seeds, id_ + ".png")

    def files(self, id_):
        return self.layout.image(id_), self.seed_path(id_)

    def get(self, index, seed=0, epoch=0):
        """Item ``index`` with the randomness of ``(seed, epoch, index)``."""
        id_ = self.ids[index]
        img = read_image(self.layout.image(id_))
        label = read_mask(self.seed_path(id_), shape=img.shape[:2])
        return seg_transform(img, label, sample_rng(seed, epoch, index), self.seg.crop_size, self.seg.scales)


class _EpochView(Dataset):
    """The dataset as seen in one epoch: items carry the bad-sample note as a last field."""

    def __init__(self, dataset, seed, epoch):
        self.dataset, self.seed, self.epoch = dataset, seed, epoch

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        n = len(self.dataset)
        note = ""
        for k in range(n):
            j = (index + k) % n
            try:
                return tuple(self.dataset.get(j, self.seed, self.epoch)) + (note,)
            except InputError as e:
                if not self.dataset.skip:
                    raise
                note = note or str(e)
        raise InputError(self.dataset.cfg.root, "no sample could be loaded")


class _Batchify:
    def __init__(self, shared):
        self.stack = default_mp_batchify_fn if shared else default_batchify_fn

    def __call__(self, items):
        fields = list(zip(*items))
        return [self.stack(list(f)) for f in fields[:-1]] + [[n for n in fields[-1] if n]]


class ICDLoader:
    """Iterable over the batches of one epoch (tuples of NDArrays, batch axis 0).

    ``skipped`` lists the problems of the samples replaced in skip mode (one per
    replaced sample); a summary is logged at the end of the epoch.
    """

    def __init__(self, loader, epoch):
        self.loader, self.epoch, self.skipped = loader, epoch, []

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.skipped.extend(batch[-1])
            yield tuple(batch[:-1])
        if self.skipped:
            logger.warning("epoch %d: %d bad samples replaced, first: %s", self.epoch, len(self.skipped),
                           self.skipped[0])


def make_loader(dataset, batch_size, shuffle=False, num_workers=0, seed=0, epoch=0, last_batch="keep",
                batches=None):
    """A deterministic loader over ``dataset`` for one epoch.

    Parameters
    ----------
    dataset : ICDTrainDataset or ICDInferDataset
    batch_size : int
    shuffle : bool
        Order drawn from ``(seed, epoch)``.
    num_workers : int
        Worker processes (0: load in the main process); results do not depend on it.
    seed, epoch : int
        With the sample index they fix every random draw.
    last_batch : str
        ``keep``, ``discard`` or ``rollover`` (as Gluon's BatchSampler).
    batches : list of index arrays, optional
        The epoch's batches given explicitly (e.g. one worker's share of each global
        batch under ``dist_sync``); ``batch_size``, ``shuffle`` and ``last_batch`` are then unused.

    Returns
    -------
    ICDLoader
    """
    if batches is not None:
        sampler = [[int(i) for i in b] for b in batches]
    else:
        sampler = BatchSampler(epoch_order(len(dataset), seed, epoch, shuffle).tolist(), batch_size, last_batch)
    loader = DataLoader(_EpochView(dataset, seed, epoch), batch_sampler=sampler, num_workers=num_workers,
                        batchify_fn=_Batchify(num_workers > 0))
    return ICDLoader(loader, epoch)
