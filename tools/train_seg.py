#!/usr/bin/env python
"""Train DeepLab-LargeFOV (VGG16 or ResNet-101) on seeds (paper Tables 7-8).

Parser and body: icd_mx/commands/train_seg.py (`--help`; also `icd train_seg`).
"""
import sys

from icd_mx.commands.train_seg import main

if __name__ == "__main__":
    sys.exit(main())
