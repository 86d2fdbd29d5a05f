"""The ICD network: dilated VGG16 + CAM branch + bottom-up (BU) + top-down (TD) heads.

docs/method.md "Network". Parameter names (under the block prefix) are the
release's: ``conv1_1..conv5_3``, ``fc6/fc7/fc8``, ``feat_bn``, ``icd_bu_weight``,
``icd_accum_resign_moving_mean`` (the sign-flip state), ``fc6_ft/fc7_ft``, ``conv_ft``.

Training: :meth:`ICDNet.forward_train` runs three graphs per context (docs/architecture.md,
"Network"): stage 1 (backbone, CAM branch and loss), the BU stage (BN, BU score, the
sign-flip statistics) and stage 2 (the sign applied, L_bu, the refinement, TD score and
L_td, the total loss), hybridized with the network's flags; between the BU stage and
stage 2 the one Python operator, the sign-flip update, is the step's only host sync.
Inference and export: calling the block, ``net(img, sp, label) -> (cam, icd_bu, icd_bu_sp, icd_td)`` (``(cam,)`` in
``cam`` mode), native ops only.
"""
import mxnet as mx
from mxnet import autograd
from mxnet.gluon import nn

from .losses import bu_loss, cam_loss, td_loss, td_warmup_weight
from .refine import refine, sampling_step
from .signflip import sign_from_state, signflip_stats, signflip_update, signflip_update_per_device
from .vgg import DilatedVGG16, relu, scaled

NUM_CLASSES = 20
NEW_LAYER_INIT = mx.init.Normal(0.01)  # docs/method.md "Optimisation": new layers N(0, 0.01)


def named_conv(channels, kernel, in_channels, name, new=False, lr_mult=1.0, use_bias=True):
    """A conv layer with the release's parameter names (``<name>_weight``/``_bias``), padding
    ``kernel // 2``, N(0, 0.01) init when ``new``, ``lr_mult`` on both, no decay on the bias."""
    conv = nn.Conv2D(channels, kernel, padding=kernel // 2, in_channels=in_channels, use_bias=use_bias,
                     weight_initializer=NEW_LAYER_INIT if new else None, prefix=name + "_")
    conv.weight.lr_mult = lr_mult
    if use_bias:
        conv.bias.lr_mult = lr_mult
        conv.bias.wd_mult = 0.0  # only *_weight decays (docs/method.md "MXNet conventions": Module's rule)
    return conv


def default_reduce(arrays):
    """Sum per-context NDArrays onto the first one's context (single worker)."""
    with autograd.pause():
        total = arrays[0].detach().copy()
        for a in arrays[1:]:
            total += a.detach().as_in_context(total.context)
    return total


class BottomUp(nn.HybridBlock):
    """Directional vectors W (C x F), rows L2-normalised before use; S_hat = 1x1 conv, no bias."""

    def __init__(self, in_channels, num_classes=NUM_CLASSES, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(num_classes, in_channels), init=NEW_LAYER_INIT)

    def hybrid_forward(self, F, feat, weight):
        w = F.L2Normalization(weight, mode="instance")
        w = F.reshape(w, (0, 0, 1, 1))
        return F.Convolution(feat, w, kernel=(1, 1), num_filter=self.num_classes, no_bias=True)


class _Unregistered:
    """Holds blocks outside Gluon's child registry (a list attribute would be inspected)."""

    def __init__(self, *items):
        self.items = items


class TrainStage(nn.HybridBlock):
    """One of the graphs of the training step (:meth:`ICDNet.forward_train`).

    ``stage`` names the method it runs: ``"_stage1"`` (``net._stage1(F, img, label)``),
    ``"_stage_bu"`` or ``"_stage2"``, with the keyword arguments ``options`` (fixed for
    the graph). The blocks whose parameters the stage reads are
    registered as its children (shared with ``net``, which alone saves them); ``net``
    itself is held outside Gluon's child registry, so the stage is no part of the
    network's parameter tree.
    """

    def __init__(self, net, stage, blocks, options=None, **kwargs):
        super().__init__(**kwargs)
        self._owner = _Unregistered(net)
        self.stage = stage
        self.options = dict(options or {})
        for i, block in enumerate(blocks):
            self.register_child(block, f"part{i}")

    def hybrid_forward(self, F, *args):
        return getattr(self._owner.items[0], self.stage)(F, *args, **self.options)


class ICDNet(nn.HybridBlock):
    """ICD (or the CAM-only baseline when ``model_cfg.mode == "cam"``).

    Parameters
    ----------
    model_cfg : icd_mx.config.ModelConfig
        ``mode, width, bu_feature, bu_loss, td_structure, bn_beta, grad_scale,
        signflip_momentum, td_threshold, td_warmup_epochs, max_superpixels, dropout``.
    """

    def __init__(self, model_cfg, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg = model_cfg
        self.icd = cfg.mode == "icd"
        # L_td warm-up length in iterations (the task sets it from the list length, see
        # losses.td_warmup_iters); None: td_warmup_epochs * iterations per epoch.
        self.td_warmup_iters = None
        self._release_kv = None  # signflip_sync=per_device: the release's average, zero at start
        self._stages = _Unregistered()  # the TrainStage graphs, built at the first forward_train
        self._sampled = _Unregistered({})  # sampling step -> stage 2 graph with sampled memberships
        self._hybrid_args = (False, {})
        w = cfg.width
        with self.name_scope():
            self.backbone = DilatedVGG16(width=w, prefix="")
            ch = dict(self.backbone.channels)
            ch["fc6"] = ch["fc7"] = scaled(1024, w)
            self.ch = ch
            self.fc6 = named_conv(ch["fc6"], 3, ch["conv5"], "fc6")
            self.fc7 = named_conv(ch["fc7"], 1, ch["fc6"], "fc7")
            self.fc8 = named_conv(NUM_CLASSES, 1, ch["fc7"], "fc8", new=True, lr_mult=10.0)
            self.drop6 = nn.Dropout(cfg.dropout)
            self.drop7 = nn.Dropout(cfg.dropout)
            if not self.icd:
                return
            bu_ch = {"conv4": ch["conv4"], "conv5": ch["conv5"], "fc6": ch["fc6"],
                     "concat": ch["conv4"] + ch["conv5"] + ch["fc6"]}[cfg.bu_feature]
            self.feat_bn = self._bn(bu_ch, "feat_bn")
            if cfg.bu_feature != "conv5":
                self.td_bn = self._bn(ch["conv5"], "td_bn")  # TD always reads BN'd conv5
            self.icd_bu = BottomUp(bu_ch, prefix="icd_bu_")
            self.signflip_state = self.params.get("icd_accum_resign_moving_mean", shape=(NUM_CLASSES, 2),
                                                  init="zeros", grad_req="null", differentiable=False)
            s = cfg.td_structure
            if s in ("b", "c"):
                self.fc6_ft = named_conv(ch["fc6"], 3, ch["conv5"], "fc6_ft", new=True)
                self.fc7_ft = named_conv(ch["fc7"], 1, ch["fc6"], "fc7_ft", new=True)
            td_ch = {"a": ch["conv5"], "b": ch["fc7"]}.get(s, ch["conv5"] + ch["fc6"] + ch["fc7"])
            self.conv_ft = named_conv(NUM_CLASSES, 1, td_ch, "conv_ft", new=True, lr_mult=10.0, use_bias=False)

    def _bn(self, channels, name):
        """BatchNorm, gamma fixed at 1, eps 1e-5, momentum 0.9, beta learnable or 0 (model.bn_beta)."""
        bn = nn.BatchNorm(momentum=0.9, epsilon=1e-5, scale=False, center=self.cfg.bn_beta == "learn",
                          in_channels=channels, prefix=name + "_")
        bn.beta.wd_mult = 0.0
        return bn

    # ---- initialisation -------------------------------------------------
    def initialize(self, init=None, ctx=None, verbose=False, force_reinit=False):
        """Initialise (``init`` defaults to Xavier for the backbone, N(0, 0.01) for new layers),
        then copy fc6/fc7 into fc6_ft/fc7_ft (docs/method.md "Network", TD)."""
        super().initialize(init or mx.init.Xavier(), ctx=ctx, verbose=verbose, force_reinit=force_reinit)
        self.copy_ft_from_cam()

    def zero_frozen_beta(self):
        """With ``model.bn_beta: zero`` the BN shift is 0 whatever a loaded file holds (the
        parameter is frozen, but BatchNorm still adds it)."""
        if not self.icd or self.cfg.bn_beta != "zero":
            return
        for bn in (getattr(self, "feat_bn", None), getattr(self, "td_bn", None)):
            if bn is not None:
                bn.beta.set_data(mx.nd.zeros(bn.beta.shape))

    def copy_ft_from_cam(self):
        """fc6_ft/fc7_ft := fc6/fc7 (no-op without those layers)."""
        if not self.icd or self.cfg.td_structure not in ("b", "c"):
            return
        for src, dst in ((self.fc6, self.fc6_ft), (self.fc7, self.fc7_ft)):
            dst.weight.set_data(src.weight.data())
            dst.bias.set_data(src.bias.data())

    # ---- shared pieces (F = mx.nd or mx.sym) -----------------------------
    def _cam_branch(self, F, pool5):
        fc6 = relu(F, self.fc6(pool5))
        fc7 = relu(F, self.fc7(self.drop6(fc6)))
        return fc6, self.fc8(self.drop7(fc7))

    def _bu_input(self, F, conv4, conv5, fc6):
        src = self.cfg.bu_feature
        if src == "concat":
            return F.concat(conv4, conv5, fc6, dim=1)
        return {"conv4": conv4, "conv5": conv5, "fc6": fc6}[src]

    def _td_input(self, feat_bn, conv5):
        """What the TD head reads: the BN'd BU feature when that is conv5, else conv5 itself."""
        return feat_bn if self.cfg.bu_feature == "conv5" else conv5

    def _td_score(self, F, td_in):
        """S'' from BN'd conv5 by TD structure a/b/c/d (paper Table 6); ``td_in`` from :meth:`_td_input`."""
        x = td_in if self.cfg.bu_feature == "conv5" else self.td_bn(td_in)
        s = self.cfg.td_structure
        if s == "a":
            return self.conv_ft(x)
        l6, l7 = (self.fc6, self.fc7) if s == "d" else (self.fc6_ft, self.fc7_ft)
        f6 = relu(F, l6(x))
        f7 = relu(F, l7(f6))
        return self.conv_ft(f7 if s == "b" else F.concat(x, f6, f7, dim=1))

    # ---- inference / export graph ---------------------------------------
    def hybrid_forward(self, F, img, sp, label, signflip_state=None):
        conv4, conv5, pool5 = self.backbone(img)
        fc6, cam = self._cam_branch(F, pool5)
        if not self.icd:
            return (cam,)
        feat = self.feat_bn(self._bu_input(F, conv4, conv5, fc6))
        sign = F.reshape(sign_from_state(F, signflip_state), (1, -1, 1, 1))
        s_bu = F.broadcast_mul(self.icd_bu(feat), sign)
        s_sp = refine(F, s_bu, label, sp, self.cfg.max_superpixels, NUM_CLASSES)
        return cam, s_bu, s_sp, self._td_score(F, self._td_input(feat, conv5))

    def infer(self, img, sp, label=None):
        """Score maps at stride 8: dict ``cam`` (and ``icd_bu, icd_bu_sp, icd_td``), each (N, 20, h, w).

        ``label`` (N, 20) selects the present classes for the superpixel refinement
        (as the release does); ``None`` treats every class as present.
        """
        if label is None:
            label = mx.nd.ones((img.shape[0], NUM_CLASSES), ctx=img.context)
        with autograd.predict_mode():
            outs = self(img, sp, label)
        return dict(zip(("cam", "icd_bu", "icd_bu_sp", "icd_td"), outs))

    # ---- training --------------------------------------------------------
    def hybridize(self, active=True, **kwargs):
        """Hybridize the inference graph and the training graphs (:meth:`_train_stages`, and
        stage 2's sampling variants, :meth:`_stage2_graph`) with the same flags."""
        super().hybridize(active, **kwargs)
        self._hybrid_args = (active, dict(kwargs))
        for stage in self._stages.items + tuple(self._sampled.items[0].values()):
            stage.hybridize(active, **kwargs)

    def cast(self, dtype):
        self._stages = _Unregistered()  # rebuilt for the new type at the next step
        self._sampled = _Unregistered({})
        super().cast(dtype)

    def _train_stages(self):
        """The :class:`TrainStage` graphs, one (CAM) or three (ICD), built once and
        hybridized like the network.

        The BU stage is a graph of its own because of its BatchNorm: with a BatchNorm in
        the backbone's graph, MXNet 1.9 allocated the backbone's largest buffers afresh at
        every step (at 321x321 batch 4 about 1.2 GB of new pages a step: page faults, about
        2 s of system time a step, and a higher peak memory); with the BatchNorm in its
        own graph every large buffer stays in the graphs' static memory
        (``benchmarks/bench_train_step.py``)."""
        if not self._stages.items:
            cam = [self.backbone, self.fc6, self.fc7, self.fc8]
            if not self.icd:
                stages = (TrainStage(self, "_stage1", cam, prefix="train1_"),)
            else:
                stages = (TrainStage(self, "_stage1", cam, prefix="train1_"),
                          TrainStage(self, "_stage_bu", [self.feat_bn, self.icd_bu], prefix="trainbu_"),
                          TrainStage(self, "_stage2", self._td_blocks(), prefix="train2_"))
            active, kwargs = self._hybrid_args
            for stage in stages:
                stage.hybridize(active, **kwargs)
            self._stages = _Unregistered(*stages)
        return self._stages.items

    def _td_blocks(self):
        """The blocks whose parameters stage 2 reads (the TD head's)."""
        s = self.cfg.td_structure
        td = [] if s == "a" else [self.fc6, self.fc7] if s == "d" else [self.fc6_ft, self.fc7_ft]
        return ([self.td_bn] if self.cfg.bu_feature != "conv5" else []) + td + [self.conv_ft]

    def _stage2_graph(self, sp, s_hat):
        """Stage 2's graph for these sizes: where the resize of the superpixel one-hot maps to
        the score's size samples whole pixels (``refine.sampling_step``: training crops of
        8k + 1 pixels, such as 321), a graph that samples the ids and builds no
        full-resolution one-hot (the same floats; 107 MB less at 321x321 batch 4); else
        the general one."""
        step = sampling_step(sp.shape[1:], s_hat.shape[2:])
        general = self._train_stages()[2]
        if step is None:
            return general
        sampled = self._sampled.items[0]
        if step not in sampled:
            stage = TrainStage(self, "_stage2", self._td_blocks(), options={"sp_step": step},
                               prefix=f"train2s{step[0]}x{step[1]}_")
            active, kwargs = self._hybrid_args
            stage.hybridize(active, **kwargs)
            sampled[step] = stage
        return sampled[step]

    def forward_train(self, ctx_batches, step, outputs=None):
        """One training forward over all contexts (call inside ``autograd.record()``).

        Per context: stage 1's graph and the BU stage's, then the sign-flip update over all
        contexts (the one Python operator), then stage 2's graph (:class:`TrainStage`).

        Parameters
        ----------
        ctx_batches : list of (img (N,3,H,W), sp (N,H,W), label (N,20)) per context
        step : object with ``epoch, iteration, iters_per_epoch`` and ``reduce(list) -> NDArray``
            (sum over contexts and workers; :func:`default_reduce` if absent), and
            optionally ``log`` (bool, default True): whether the metrics are read at this
            step; without it they are not computed (``{}``), saving their device work.

        outputs : list, optional
            Receives one dict per context of the step's outputs (``logits``, and with ICD
            ``icd_bu`` after the sign flip and ``icd_td``), e.g. for comparisons with the release.

        Returns
        -------
        losses : list of scalar NDArray, one per context: the SUM over the context's
            images of the per-image loss L_cam + L_bu + w_td * L_td, so that
            ``Trainer.step(global_batch)`` yields the reference's batch-mean gradient.
        metrics : dict name -> scalar NDArray (means over this worker's images), or ``{}``
            when ``step.log`` is false.
        """
        stages = self._train_stages()
        parts = []
        for img, sp, label in ctx_batches:
            out = stages[0](img, label)
            if self.icd:
                logits, l_cam, cam, bu_in = out[:4]
                s_hat, stats, feat = stages[1](bu_in, cam, label)
                td_in = self._td_input(feat, out[-1])  # out[-1]: conv5
                p = {"logits": logits, "loss_cam": l_cam, "s_hat": s_hat, "stats": stats, "td_in": td_in}
            else:
                p = dict(zip(("logits", "loss_cam", "loss"), out))
            p["label"] = label
            parts.append(p)
        if self.icd:
            signs = self._signs(parts, step)
            total = self.td_warmup_iters
            if total is None:
                total = self.cfg.td_warmup_epochs * step.iters_per_epoch
            w_td = td_warmup_weight(step.iteration, total)
            for p, sign, (img, sp, label) in zip(parts, signs, ctx_batches):
                w = mx.nd.full((1,), w_td, ctx=img.context, dtype=p["s_hat"].dtype)
                stage2 = self._stage2_graph(sp, p["s_hat"])
                out = stage2(p["loss_cam"], p["s_hat"], sign.as_in_context(img.context), sp, label, p["td_in"], w)
                p.update(zip(("loss", "loss_bu", "loss_td", "icd_bu", "icd_td"), out), w_td=w_td)
        if outputs is not None:
            keys = ("logits", "icd_bu", "icd_td")
            outputs.extend({k: p[k].detach() for k in keys if k in p} for p in parts)
        losses = [p["loss"] for p in parts]
        if not getattr(step, "log", True):
            return losses, {}
        return losses, self._metrics(parts, sum(b[0].shape[0] for b in ctx_batches))

    def _signs(self, parts, step):
        """One sign (C,) per context: the global update (default) or the release's per device."""
        momentum = self.cfg.signflip_momentum
        if self.cfg.signflip_sync == "per_device":
            if self._release_kv is None:
                self._release_kv = mx.nd.zeros((NUM_CLASSES, 2), ctx=parts[0]["stats"].context)
            return signflip_update_per_device([p["stats"] for p in parts], self.signflip_state,
                                              self._release_kv, momentum)
        reduce = getattr(step, "reduce", None) or default_reduce
        sign = signflip_update(reduce([p["stats"] for p in parts]), self.signflip_state, momentum)
        return [sign] * len(parts)

    def _stage1(self, F, img, label):
        """Stage 1 graph: ``(logits, loss_cam)`` and ``loss`` (CAM mode) or the CAM map and
        the BU stage's input (ICD; and conv5, the TD head's input, when the BU feature is
        not conv5)."""
        conv4, conv5, pool5 = self.backbone(img)
        fc6, cam = self._cam_branch(F, pool5)
        logits = F.mean(cam, axis=(2, 3))
        l_cam = cam_loss(F, logits, label)
        if not self.icd:
            return logits, l_cam, F.sum(l_cam)
        out = (logits, l_cam, cam, self._bu_input(F, conv4, conv5, fc6))
        return out if self.cfg.bu_feature == "conv5" else out + (conv5,)

    def _stage_bu(self, F, bu_in, cam, label):
        """BU stage graph: ``(s_hat, stats, feat)``, the BU score before the flip, the
        sign-flip statistics and the BN'd BU feature."""
        feat = self.feat_bn(bu_in)
        s_hat = self.icd_bu(F.stop_gradient(feat))  # L_bu trains W only
        stats = signflip_stats(F, cam, s_hat, label)  # no gradient (stop_gradient inside)
        return s_hat, stats, feat

    def _stage2(self, F, l_cam, s_hat, sign, sp, label, td_in, w_td, sp_step=None):
        """Stage 2 graph: ``(loss, loss_bu, loss_td, icd_bu, icd_td)``; ``loss`` is the
        context's sum of L_cam + L_bu + w_td * L_td (``w_td`` a (1,) array); ``sp_step``
        see :meth:`_stage2_graph`."""
        cfg = self.cfg
        l_bu = bu_loss(F, s_hat, label, cfg.grad_scale, cfg.bu_loss, sign)
        s_bu = F.broadcast_mul(F.stop_gradient(s_hat), F.reshape(sign, (1, -1, 1, 1)))
        s_sp = refine(F, s_bu, label, sp, cfg.max_superpixels, NUM_CLASSES, sp_step)  # no gradient
        s_td = self._td_score(F, td_in)
        l_td = td_loss(F, s_td, s_sp, label, cfg.td_threshold)
        loss = F.sum(l_cam) + F.sum(l_bu) + F.broadcast_mul(w_td, F.sum(l_td))
        return loss, l_bu, l_td, s_bu, s_td

    def _metrics(self, parts, n_images):
        ctx = parts[0]["loss"].context
        out = {}

        def total(fn):
            return mx.nd.add_n(*[fn(p).as_in_context(ctx) for p in parts])

        names = ["loss_cam"] + (["loss_bu", "loss_td"] if self.icd else [])
        with autograd.pause():
            for name in names:
                out[name] = total(lambda p: p[name].detach().sum()) / n_images
            out["acc"] = total(lambda p: ((p["logits"].detach() > 0) == p["label"]).mean(axis=1).sum()) / n_images
            if self.icd:
                out["bu_min"] = mx.nd.concat(*[p["s_hat"].detach().min().as_in_context(ctx) for p in parts],
                                             dim=0).min()
                out["bu_max"] = mx.nd.concat(*[p["s_hat"].detach().max().as_in_context(ctx) for p in parts],
                                             dim=0).max()
                out["td_weight"] = mx.nd.array([parts[0]["w_td"]], ctx=ctx)
                out["loss"] = total(lambda p: p["loss"].detach()) / n_images
        if "loss" not in out:
            out["loss"] = out["loss_cam"]
        return out


F_nd = mx.nd


def inference_symbol(model_cfg):
    """The inference graph as a Symbol, parameters named like the release (block prefix "").

    Inputs ``data`` (N,3,H,W), ``sp`` (N,H,W), ``label`` (N,20); outputs
    ``cam, icd_bu, icd_bu_sp, icd_td`` (``cam`` only in ``cam`` mode, input ``data``).
    No custom operator: the stored sign is applied with native ops.
    """
    with mx.name.NameManager():  # fresh operator-name counters: the JSON is reproducible
        net = ICDNet(model_cfg, prefix="")
        data, sp, label = mx.sym.var("data"), mx.sym.var("sp"), mx.sym.var("label")
        return mx.sym.Group(list(net(data, sp, label)))


__all__ = ["ICDNet", "BottomUp", "default_reduce", "inference_symbol", "td_warmup_weight"]
