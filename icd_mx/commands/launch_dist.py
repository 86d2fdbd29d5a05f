"""Start a ``dist_sync`` job with MXNet's own parameter server.

On one machine it starts 1 scheduler, S servers and W workers on 127.0.0.1 (a free
port unless ``--port``), runs COMMAND as every worker, waits at most ``--timeout``
seconds and kills every process it started when it returns::

    python tools/launch_dist.py -n 2 -s 1 -- python tools/train.py --config c.yaml train.kvstore=dist_sync

For several machines, ``--print-env`` prints the ``DMLC_*`` variables of each role for
a scheduler at ``--host``/``--port``; start the processes with them on each node
(setting ``DMLC_NODE_HOST`` to that node's address) and a shared run folder.
"""
import argparse
import sys

from . import run_main


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--num-workers", type=int, default=2)
    ap.add_argument("-s", "--num-servers", type=int, default=1)
    ap.add_argument("--host", default="127.0.0.1", help="scheduler address")
    ap.add_argument("--port", type=int, default=0, help="scheduler port (0: a free one)")
    ap.add_argument("--timeout", type=float, default=24 * 3600.0, help="seconds before everything is killed")
    ap.add_argument("--print-env", action="store_true", help="print the variables of each role and exit")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the worker command (after --)")
    args = ap.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command and not args.print_env:
        ap.error("give the worker command after --")
    return args


def body(args):
    from ..engine.distributed import dmlc_env, launch_local

    if args.print_env:
        port = args.port or 9091
        for role in ("scheduler", "server", "worker"):
            env = dmlc_env(role, args.host, port, args.num_servers, args.num_workers, node_host="<this node>")
            print(f"{role}: " + " ".join(f"{k}={v}" for k, v in env.items()))
        return 0
    code = launch_local(args.command, args.num_workers, args.num_servers, args.host, args.port, args.timeout)
    if code == 124:
        print(f"error: launch_dist: timed out after {args.timeout:g} s; every process was stopped", file=sys.stderr)
    elif code:
        print(f"error: launch_dist: a worker exited with {code}; every process was stopped", file=sys.stderr)
    return code


def main(argv=None):
    return run_main(body, parse(sys.argv[1:] if argv is None else argv))
