#!/usr/bin/env python
"""Start a ``dist_sync`` job with MXNet's own parameter server.

Parser and body: icd_mx/commands/launch_dist.py (`--help`; also `icd launch_dist`).
"""
import sys

from icd_mx.commands.launch_dist import main

if __name__ == "__main__":
    sys.exit(main())
