"""Building the ICD network: the trained or initial weights of a run, or a start from scratch.

Shared by the training and score-export stages (:mod:`icd_mx.stages.train`,
:mod:`icd_mx.stages.infer`) and by the pre-training (:func:`init_from_scratch`).
"""
import logging

from ..errors import InputError
from .icd import ICDNet

logger = logging.getLogger(__name__)


def build_net(model_cfg, contexts, params="", trained=False, static_shape=False):
    """An initialised, hybridized ICDNet on ``contexts``; ``params`` (any format) loaded strictly.

    Hybridized with ``static_alloc`` and, with ``static_shape`` (``train.static_shape``
    for training), ``static_shape``: on MXNet 1.9 a CPU training step at 321x321 batch 4
    is then as fast as without (paired 1.01; it was 14.0 s against 16.0 s while the
    ReLUs were the plain ``relu`` operator) and peaks at 2.2 GB instead of 2.3 GB
    (``benchmarks/bench_train_step.py``). A batch of another shape is re-planned, not refused.

    With no ``params`` the network starts from :func:`init_from_scratch`
    (the CPU demo, where no ImageNet weights exist); on VOC ``model.init`` names the
    "20M" ImageNet init or a release snapshot. A missing file is an error, never a
    silent fallback to another init. With ``trained`` (score export) the file must be a
    trained snapshot: an ImageNet init would leave the heads random.
    """
    net = ICDNet(model_cfg)
    if params:
        net.initialize(ctx=contexts)
        from ..compat.release import load_params

        report = load_params(net, params, ctx=contexts)
        if trained and report["format"] == "init":
            raise InputError(params, "an ImageNet/pre-training init, not a trained ICD checkpoint (its fc8, "
                                     "BU and TD layers would be random)")
        logger.info("loaded %s (%s format, %d arrays)", params, report["format"], report["loaded"])
    else:
        init_from_scratch(net, contexts, dirac=model_cfg.scratch_dirac)
    net.hybridize(static_alloc=True, static_shape=static_shape)
    return net


def init_from_scratch(net, contexts, pixel_scale=64.0, dirac=0.0):
    """Initialise for training without ImageNet weights (the CPU demo).

    He (MSRA) initialisation for the ReLU backbone and fc6/fc7, N(0, 0.01) for the new
    layers as in the release, and conv1_1 divided by ``pixel_scale``: the network sees
    raw 0..255 pixels minus 127 (docs/method.md, "Data conventions": no std scaling),
    whose spread is about 64, where the ImageNet weights the release starts from were
    fitted to that range. With ``dirac`` > 0 the backbone convs after conv1_1 start as
    identity maps (Dirac kernels) plus ``dirac`` times their He noise, so the 13-layer
    plain network starts out as shallow as its pooling allows and trains from scratch
    in a CPU budget. Only the starting point changes; the network and its input are the
    release's.
    """
    import mxnet as mx
    import numpy as np

    net.initialize(mx.init.MSRAPrelu(factor_type="in", slope=0.0), ctx=contexts)
    for name, p in net.backbone.collect_params().items():
        if not name.endswith("_weight"):
            continue
        w = p.data(p.list_ctx()[0]).asnumpy()
        if name.endswith("conv1_1_weight"):
            w = w / pixel_scale
        elif dirac > 0:
            out_ch, in_ch, kh, kw = w.shape
            w = w * dirac
            n = min(out_ch, in_ch)
            w[np.arange(n), np.arange(n), kh // 2, kw // 2] += 1.0
            if out_ch > in_ch:  # widening layers repeat the input channels
                extra = np.arange(in_ch, out_ch)
                w[extra, extra % in_ch, kh // 2, kw // 2] += 1.0
        p.set_data(mx.nd.array(w))
    if hasattr(net, "copy_ft_from_cam"):
        net.copy_ft_from_cam()
