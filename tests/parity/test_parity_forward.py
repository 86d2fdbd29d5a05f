"""The four inference maps against the release's graph (forward.npz), full VGG16 width."""
import mxnet as mx
import numpy as np
import pytest

from icd_mx.compat.compare import fixture_input as release_input
from icd_mx.compat.parity import seed_net
from icd_mx.compat.release import release_names
from icd_mx.config import ModelConfig
from icd_mx.nn import ICDNet

KINDS = ("cam", "icd_bu", "icd_bu_sp", "icd_td")


@pytest.fixture(scope="module")
def forward_outputs(golden):
    g = golden("forward")
    net = seed_net(ICDNet(ModelConfig(width=1.0)), mx.cpu())
    outs = net.infer(release_input(g["image_rgb"]), mx.nd.array(g["superpixel"]), mx.nd.array(g["label"]))
    return net, {k: v.asnumpy() for k, v in outs.items()}


def test_parameter_names_and_shapes_match_the_release(golden, forward_outputs):
    g = golden("forward")
    net = forward_outputs[0]
    ours = {name: (tuple(p.shape), kind == "aux") for name, (p, kind) in release_names(net).items()}
    theirs = {str(n): (tuple(int(x) for x in s[:d]), bool(a))
              for n, s, d, a in zip(g["param_names"], g["param_shapes"], g["param_ndim"], g["param_is_aux"])}
    assert ours == theirs


def test_signflip_state_is_the_seeded_one(golden, forward_outputs):
    state = forward_outputs[0].signflip_state.data().asnumpy()
    np.testing.assert_array_equal(state, golden("forward")["resign_state"])


@pytest.mark.parametrize("kind", KINDS)
def test_inference_map_matches_release(golden, forward_outputs, kind):
    expected = golden("forward")[kind]
    got = forward_outputs[1][kind]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)


def test_committed_symbol_matches_release(golden, tmp_path):
    """symbols/icd_vgg16-symbol.json with the seeded parameters in the release's file format
    reproduces the release's four maps (no icd_mx code in the graph)."""
    import os

    from icd_mx.compat.parity import seeded_params

    g = golden("forward")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    net = ICDNet(ModelConfig(width=1.0), prefix="")
    params = seeded_params(net)
    gluon_name = {name: p.name for name, (p, _) in release_names(net).items()}  # BN: running_*
    path = str(tmp_path / "seeded.params")
    mx.nd.save(path, {f"{k.split(':')[0]}:{gluon_name[k.split(':')[1]]}": mx.nd.array(v) for k, v in params.items()})
    net = mx.gluon.SymbolBlock.imports(os.path.join(root, "symbols", "icd_vgg16-symbol.json"),
                                       ["data", "sp", "label"], path)
    outs = net(release_input(g["image_rgb"]), mx.nd.array(g["superpixel"]), mx.nd.array(g["label"]))
    for kind, out in zip(KINDS, outs):
        expected = g[kind]
        np.testing.assert_allclose(out.asnumpy(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max(),
                                   err_msg=kind)
