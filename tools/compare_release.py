#!/usr/bin/env python
"""Compare icd-mx with the authors' release (js-fan/ICD) on the same parameters and images.

Parser and body: icd_mx/commands/compare_release.py (`--help`; also `icd compare_release`).
"""
import sys

from icd_mx.commands.compare_release import main

if __name__ == "__main__":
    sys.exit(main())
