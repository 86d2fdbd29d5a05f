#!/usr/bin/env python
"""Superpixels for a list: FH, then merged to <= 64 regions, as <data.root>/<data.superpixel_dir>/<id>.png.

Parser and body: icd_mx/commands/superpixels.py (`--help`; also `icd superpixels`).
"""
import sys

from icd_mx.commands.superpixels import main

if __name__ == "__main__":
    sys.exit(main())
