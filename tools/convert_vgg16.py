#!/usr/bin/env python
"""Convert gluoncv's ImageNet VGG16 into DeepLab's "VGG16 20M" init, in the release's format.

Parser and body: icd_mx/commands/convert_vgg16.py (`--help`; also `icd convert_vgg16`).
"""
import sys

from icd_mx.commands.convert_vgg16 import main

if __name__ == "__main__":
    sys.exit(main())
