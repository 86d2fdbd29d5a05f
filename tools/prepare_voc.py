#!/usr/bin/env python
"""Prepare or check a VOC2012 dataset root.

Parser and body: icd_mx/commands/prepare_voc.py (`--help`; also `icd prepare_voc`).
"""
import sys

from icd_mx.commands.prepare_voc import main

if __name__ == "__main__":
    sys.exit(main())
