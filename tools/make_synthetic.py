#!/usr/bin/env python
"""Write the generated mini-VOC (VOC layout, no superpixels; see icd_mx/data/synthetic.py).

Parser and body: icd_mx/commands/make_synthetic.py (`--help`; also `icd make_synthetic`).
"""
import sys

from icd_mx.commands.make_synthetic import main

if __name__ == "__main__":
    sys.exit(main())
