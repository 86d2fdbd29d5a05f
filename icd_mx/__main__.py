"""``python -m icd_mx <stage> [args]``: the ``icd`` entry point (:mod:`icd_mx.cli`)."""
import sys

from .cli import main

sys.exit(main())
