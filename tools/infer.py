#!/usr/bin/env python
"""Export score maps (cam, icd_bu, icd_bu_sp, icd_td) of a list with a trained checkpoint.

Parser and body: icd_mx/commands/infer.py (`--help`; also `icd infer`).
"""
import sys

from icd_mx.commands.infer import main

if __name__ == "__main__":
    sys.exit(main())
