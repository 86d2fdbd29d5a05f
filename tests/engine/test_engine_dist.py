"""dist_sync on 127.0.0.1: 1 scheduler + 1 server + 2 workers give the update of one
process with the global batch (and start from rank 0's weights); the launcher stops
every process it started. About 8 s, so not marked slow."""
import os
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
from engine_toy import Opt, ToyTask, params_of

from icd_mx.engine import fit, launch_local

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ENV = {"OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_dist_sync_two_workers_equal_one_process(tmp_path):
    run = str(tmp_path / "dist")
    os.makedirs(run)
    code = launch_local([sys.executable, os.path.join(HERE, "engine_toy.py"), run, "2"],
                        num_workers=2, num_servers=1, timeout=60, env=ENV)
    assert code == 0
    single = ToyTask()
    single.net.load_parameters(os.path.join(run, "worker0-init.params"))
    other = ToyTask().net
    other.load_parameters(os.path.join(run, "worker1-init.params"))
    assert not np.array_equal(params_of(other)["0.weight"], params_of(single.net)["0.weight"])
    fit(single, Opt(epochs=2), str(tmp_path / "single"), [mx.cpu()])
    want = params_of(single.net)
    for rank in (0, 1):
        net = ToyTask().net
        net.load_parameters(os.path.join(run, f"worker{rank}.params"))
        got = params_of(net)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=f"rank {rank} {k}")
        state = np.load(os.path.join(run, f"worker{rank}-state.npy"))
        np.testing.assert_allclose(state, single.state.asnumpy(), rtol=1e-5, atol=1e-6)
    ckpt = os.listdir(os.path.join(run, "checkpoints"))
    assert "epoch-0001.params" in ckpt and "epoch-0001.json" in ckpt  # written by rank 0 only


def test_launcher_timeout_stops_every_process(tmp_path):
    pidfile = tmp_path / "pids"
    cmd = [sys.executable, "-c",
           f"import os, time; open({str(pidfile)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(120)"]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "launch_dist.py"), "-n", "2",
                           "--timeout", "4", "--", *cmd], env=dict(os.environ, **ENV), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 124 and "timed out" in proc.stderr
    assert time.monotonic() - t0 < 30
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 2 and not any(_alive(p) for p in pids)


def test_launcher_prints_the_environment():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "launch_dist.py"), "--print-env",
                          "--host", "10.0.0.1", "--port", "9000", "-n", "4"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "DMLC_ROLE=worker" in out.stdout and "DMLC_PS_ROOT_URI=10.0.0.1" in out.stdout
    assert "DMLC_NUM_WORKER=4" in out.stdout and "DMLC_PS_ROOT_PORT=9000" in out.stdout
