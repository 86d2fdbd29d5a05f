"""The pipeline's stages, one module each, every one a ``run(cfg, ...)`` (docs/architecture.md,
"Stages"): :mod:`.superpixels`, :mod:`.pretrain`, :mod:`.train` (ICD), :mod:`.infer` (score
maps), :mod:`.seeds`, :mod:`.evaluate`, :mod:`.train_seg` and :mod:`.test_seg` (DeepLab).

A stage reads its inputs and settings from the config, locks and binds its output folder
(docs/reliability.md) and returns a summary dict. Stages import the library (data, nn,
engine, compat and the algorithm modules), never the command line (:mod:`icd_mx.commands`)
nor each other; :mod:`icd_mx.pipeline` chains them.
"""
import os


def save_run_config(cfg, stage):
    """Keep the resolved config in the run folder (``<run>/config_<stage>.yaml``)."""
    from ..config import save_config

    path = os.path.join(cfg.out_dir, f"config_{stage}.yaml")
    save_config(cfg, path)
    return path
