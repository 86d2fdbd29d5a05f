#!/usr/bin/env python
"""Export the ICD and DeepLab inference graphs as symbol JSON (``make symbols``).

Parser and body: icd_mx/commands/export_symbols.py (`--help`; also `icd export_symbols`).
"""
import sys

from icd_mx.commands.export_symbols import main

if __name__ == "__main__":
    sys.exit(main())
