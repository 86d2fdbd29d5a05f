#!/usr/bin/env python
"""The CPU demo (`make demo`): every stage on the generated mini-VOC, then its summary and previews.

Parser and body: icd_mx/commands/demo.py (`--help`; also `icd demo`).
"""
import sys

from icd_mx.commands.demo import main

if __name__ == "__main__":
    sys.exit(main())
