#!/usr/bin/env python
"""Render the paper's Tables 1-8 from finished runs, or run them all on VOC or the mini-VOC first.

Parser and body: icd_mx/commands/reproduce.py (`--help`; also `icd reproduce`).
"""
import sys

from icd_mx.commands.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
