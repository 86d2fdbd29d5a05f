"""Momentum sign flip (docs/method.md, "Sign flip").

A (20, 2) state, zeros at start, holds the global mean CAM score on the positive
and the negative side of the BU score. The per-image statistics are native ops
(:func:`signflip_stats`); their per-class sums over the images that carry the class
and the class counts are summed over all devices (and workers) by the engine's
``reduce`` before the one update, so the state does not depend on the number of
devices. The update itself is the package's only Python operator,
``Custom(stats, state, op_type="icd_signflip")``:

    batch_c = stats_c[:2] / count_c                       for classes with count_c > 0
    state_c := m * state_c + (1 - m) * batch_c            (m = 0.9; absent classes keep)
    sign_c  = +1 if state_c[0] >= state_c[1] else -1

It updates the state in place only when ``is_train``; it has no gradient. Inference
and exported graphs use :func:`sign_from_state` (native ops, no custom op).

``model.signflip_sync: per_device`` reproduces the release instead
(``Custom(stats, state, kv, op_type="icd_signflip_release")``, :func:`signflip_update_per_device`):
one shared average ``kv`` that starts at zero when training starts (also when a
snapshot is loaded), updated once per device and iteration, in device order, from that
device's images alone; a class absent from the device's images pushes the device's
current state row; the device's state copy then becomes ``kv`` and its sign is taken
from it, so devices can use different signs within one iteration and the dynamics
depend on the device count.
"""
import mxnet as mx
import numpy as np

EPS = 1e-5
OP_TYPE = "icd_signflip"
OP_TYPE_RELEASE = "icd_signflip_release"


def signflip_stats(F, cam, s_hat, label):
    """Per-class batch statistics (C, 3): [sum pos-side mean, sum neg-side mean, count].

    ``cam`` = fc8 map (N, C, h, w) (its positive part is used), ``s_hat`` the BU
    score before the flip, ``label`` (N, C). Per image and class: mean of
    max(cam, 0) over pixels with S_hat > 0 (resp. < 0), denominators clamped at 1e-5;
    summed over the images that carry the class. No gradient.
    """
    cam = F.relu(F.stop_gradient(cam))
    s_hat = F.stop_gradient(s_hat)
    pos = s_hat > 0
    neg = s_hat < 0
    pmean = F.sum(cam * pos, axis=(2, 3)) / F.maximum(F.sum(pos, axis=(2, 3)), EPS)
    nmean = F.sum(cam * neg, axis=(2, 3)) / F.maximum(F.sum(neg, axis=(2, 3)), EPS)
    per_image = F.stack(pmean * label, nmean * label, label, axis=2)  # (N, C, 3)
    return F.sum(per_image, axis=0)


def sign_from_state(F, state):
    """(C,) sign: +1 where state[:, 0] >= state[:, 1] (tie -> +1), else -1."""
    first = F.slice_axis(state, axis=1, begin=0, end=1)
    second = F.slice_axis(state, axis=1, begin=1, end=2)
    return F.reshape((first >= second) * 2 - 1, (-1,))


def update_state_numpy(state, stats, momentum=0.9):
    """The update rule on numpy arrays; returns the new state (does not modify)."""
    state = np.array(state, dtype=np.float32, copy=True)
    count = stats[:, 2]
    present = count > 0
    batch = stats[present, :2] / count[present, None]
    state[present] = momentum * state[present] + (1.0 - momentum) * batch
    return state


def release_update_numpy(state, kv, stats, momentum=0.9):
    """The release's per-device update on numpy arrays; returns the new ``kv`` (= the new state)."""
    value = np.array(state, dtype=np.float32, copy=True)
    count = stats[:, 2]
    present = count > 0
    value[present] = stats[present, :2] / count[present, None]
    return (momentum * np.asarray(kv, np.float32) + (1.0 - momentum) * value).astype(np.float32)


def _sign(state):
    return np.where(state[:, 0] >= state[:, 1], 1.0, -1.0).astype(np.float32)


class SignFlip(mx.operator.CustomOp):
    """The state update (see the module docstring)."""

    def __init__(self, momentum):
        super().__init__()
        self.momentum = momentum

    def forward(self, is_train, req, in_data, out_data, aux):
        state = aux[0]
        if is_train:
            new = update_state_numpy(state.asnumpy(), in_data[0].asnumpy(), self.momentum)
            state[:] = new
        else:
            new = state.asnumpy()
        self.assign(out_data[0], req[0], mx.nd.array(_sign(new), ctx=out_data[0].context))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], 0)


class ReleaseSignFlip(SignFlip):
    """The release's per-device update (see the module docstring); aux = (state, kv)."""

    def forward(self, is_train, req, in_data, out_data, aux):
        state, kv = aux
        if is_train:
            new = release_update_numpy(state.asnumpy(), kv.asnumpy(), in_data[0].asnumpy(), self.momentum)
            kv[:] = new
            state[:] = new
        else:
            new = state.asnumpy()
        self.assign(out_data[0], req[0], mx.nd.array(_sign(new), ctx=out_data[0].context))


@mx.operator.register(OP_TYPE)
class SignFlipProp(mx.operator.CustomOpProp):
    """Shapes: stats (C, 3), aux state (C, 2) -> sign (C,)."""

    def __init__(self, momentum=0.9):
        super().__init__(need_top_grad=False)
        self.momentum = float(momentum)

    def list_arguments(self):
        return ["stats"]

    def list_outputs(self):
        return ["sign"]

    def list_auxiliary_states(self):
        return ["state"]

    def infer_shape(self, in_shape):
        c = in_shape[0][0]
        return [in_shape[0]], [(c,)], [(c, 2)]

    def create_operator(self, ctx, shapes, dtypes):
        return SignFlip(self.momentum)


@mx.operator.register(OP_TYPE_RELEASE)
class ReleaseSignFlipProp(SignFlipProp):
    """Shapes: stats (C, 3), aux state (C, 2) and kv (C, 2) -> sign (C,)."""

    def list_auxiliary_states(self):
        return ["state", "kv"]

    def infer_shape(self, in_shape):
        c = in_shape[0][0]
        return [in_shape[0]], [(c,)], [(c, 2), (c, 2)]

    def create_operator(self, ctx, shapes, dtypes):
        return ReleaseSignFlip(self.momentum)


def signflip_update(stats, state_param, momentum=0.9, is_train=True):
    """Run the one update on the reduced ``stats`` (C, 3) and sync every device copy.

    ``state_param`` is the (C, 2) Parameter (grad_req='null'). The op runs on the
    context of ``stats``, on the state copy of that context (or the first copy);
    afterwards every copy holds the same value. Returns the sign (C,) on that context.
    """
    copies = state_param.list_data()
    main = next((d for d in copies if d.context == stats.context), copies[0])
    with mx.autograd.pause(train_mode=is_train):
        sign = mx.nd.Custom(stats.as_in_context(main.context), main, op_type=OP_TYPE, momentum=momentum)
    for d in copies:
        if d is not main:
            main.copyto(d)
    return sign


def signflip_update_per_device(stats_list, state_param, kv, momentum=0.9):
    """The release's update: one per device, in order, on the shared ``kv`` (C, 2) NDArray.

    ``stats_list`` holds each device's (C, 3) statistics (not reduced); device ``d``
    updates its own copy of ``state_param``. Returns the list of per-device signs.
    """
    copies = {d.context: d for d in state_param.list_data()}
    signs = []
    with mx.autograd.pause(train_mode=True):
        for stats in stats_list:
            state = copies.get(stats.context, state_param.list_data()[0])
            local = kv.as_in_context(state.context)
            signs.append(mx.nd.Custom(stats.as_in_context(state.context), state, local,
                                      op_type=OP_TYPE_RELEASE, momentum=momentum))
            if local is not kv:
                local.copyto(kv)
    return signs
