#!/usr/bin/env python
"""Seeds from exported score maps: <run>/scores/<kind>/<id>.npy -> <run>/seeds/<variant>/<id>.png.

Parser and body: icd_mx/commands/seeds.py (`--help`; also `icd seeds`).
"""
import sys

from icd_mx.commands.seeds import main

if __name__ == "__main__":
    sys.exit(main())
