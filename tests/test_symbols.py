"""The committed symbol JSON matches the code and runs without icd_mx (no custom op)."""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from icd_mx.compat.release import release_names
from icd_mx.config import ModelConfig
from icd_mx.nn import ICDNet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from icd_mx.commands import export_symbols  # noqa: E402


@pytest.mark.parametrize("name", sorted(export_symbols.VARIANTS))
def test_committed_symbol_matches_code(name):
    path = os.path.join(ROOT, "symbols", f"{name}-symbol.json")
    with open(path) as f:
        committed = f.read()
    assert committed == export_symbols.symbol_json(export_symbols.VARIANTS[name]), \
        f"{path} is stale: run `make symbols`"
    assert "Custom" not in committed


LOADER = r"""
import sys
import mxnet as mx
import numpy as np
net = mx.gluon.SymbolBlock.imports(sys.argv[1], ["data", "sp", "label"], sys.argv[2])
inputs = np.load(sys.argv[3])
outs = net(*[mx.nd.array(inputs[k]) for k in ("data", "sp", "label")])
np.savez(sys.argv[4], *[o.asnumpy() for o in outs])
assert not any(m.startswith("icd_mx") for m in sys.modules)
"""


def test_symbol_loads_in_fresh_process_and_matches_infer(tmp_path):
    cfg = ModelConfig(**export_symbols.VARIANTS["icd_vgg16_w0.125"])
    cfg.max_superpixels = 65
    net = ICDNet(cfg)
    net.initialize()
    rng = np.random.RandomState(0)
    net.signflip_state.set_data(mx.nd.array(rng.rand(20, 2)))
    net.feat_bn.running_mean.set_data(mx.nd.array(rng.rand(64)))
    params = {f"{kind}:{p.name[len(net.prefix):]}": p.data() for p, kind in release_names(net).values()}
    mx.nd.save(str(tmp_path / "w.params"), params)
    inputs = {"data": rng.uniform(0, 255, (1, 3, 41, 41)), "sp": rng.randint(0, 70, (1, 41, 41)),
              "label": np.eye(20)[[3]] + np.eye(20)[[8]]}
    np.savez(tmp_path / "in.npz", **inputs)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", LOADER, os.path.join(ROOT, "symbols", "icd_vgg16_w0.125-symbol.json"),
                    str(tmp_path / "w.params"), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                   check=True, env=env, cwd=str(tmp_path), timeout=120)
    got = np.load(tmp_path / "out.npz")
    expected = net.infer(*[mx.nd.array(inputs[k]) for k in ("data", "sp", "label")])
    for i, k in enumerate(("cam", "icd_bu", "icd_bu_sp", "icd_td")):
        np.testing.assert_allclose(got[f"arr_{i}"], expected[k].asnumpy(), rtol=1e-4, atol=1e-5, err_msg=k)
