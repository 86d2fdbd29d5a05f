#!/usr/bin/env python
"""Train ICD (or the CAM-only baseline, model.mode=cam) as a config says; resumes a killed run.

Parser and body: icd_mx/commands/train.py (`--help`; also `icd train`).
"""
import sys

from icd_mx.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
