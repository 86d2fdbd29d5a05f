#!/usr/bin/env python
"""Evaluate seeds (mIoU, per-class IoU) and score maps (Table 2 sweep, Table 1 mAP) of a run.

Parser and body: icd_mx/commands/evaluate.py (`--help`; also `icd evaluate`).
"""
import sys

from icd_mx.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
