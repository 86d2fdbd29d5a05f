#!/usr/bin/env python
"""Predict with a trained DeepLab: multi-scale + flip, optional CRF; score val, write the test submission.

Parser and body: icd_mx/commands/test_seg.py (`--help`; also `icd test_seg`).
"""
import sys

from icd_mx.commands.test_seg import main

if __name__ == "__main__":
    sys.exit(main())
