#!/usr/bin/env python
"""Pre-train the backbone on generated patches (the CPU demo's stand-in for ImageNet).

Parser and body: icd_mx/commands/pretrain.py (`--help`; also `icd pretrain`).
"""
import sys

from icd_mx.commands.pretrain import main

if __name__ == "__main__":
    sys.exit(main())
