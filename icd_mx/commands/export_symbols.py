"""Export the ICD and DeepLab inference graphs as symbol JSON (``make symbols``).

Usage: ``python tools/export_symbols.py --out symbols``. Writes, per variant,
``<name>-symbol.json`` loadable with ``mx.gluon.SymbolBlock.imports`` or
``mx.mod.Module`` in a process that never imported icd_mx (no custom operator).
ICD: inputs ``data, sp, label``; outputs ``cam, icd_bu, icd_bu_sp, icd_td``.
DeepLab-LargeFOV: input ``data`` (RGB 0..255), output the 21-class score map at stride 8.
"""
import argparse
import os
import re

from . import run_main

# name -> ModelConfig overrides; width 1.0 is the paper's network, 1/8 the CPU demo width
VARIANTS = {
    "icd_vgg16": {"mode": "icd", "width": 1.0},
    "icd_vgg16_w0.125": {"mode": "icd", "width": 0.125},
    "cam_vgg16": {"mode": "cam", "width": 1.0},
    "deeplab_largefov_vgg16": {"deeplab": "vgg16"},
    "deeplab_largefov_resnet101": {"deeplab": "resnet101"},
}


def symbol_json(overrides):
    """The JSON text of one variant's inference graph."""
    import mxnet as mx

    from ..config import ModelConfig
    from ..nn.deeplab import get_deeplab
    from ..nn.icd import inference_symbol

    if "deeplab" in overrides:
        with mx.name.NameManager():  # a fresh name counter: the same JSON in any process
            net = get_deeplab(overrides["deeplab"])
        with mx.autograd.predict_mode():
            text = net(mx.sym.var("data")).tojson() + "\n"
        # Gluon names a constant's initialiser after its object id: drop it, so the JSON is stable.
        return re.sub(r'"(Constant_[A-Za-z0-9_]*?)_\d+"', r'"\1"', text)
    return inference_symbol(ModelConfig(**overrides)).tojson() + "\n"


def body(args):
    from ..io import save_text, set_num_threads

    set_num_threads()
    for name, overrides in VARIANTS.items():
        path = os.path.join(args.out, f"{name}-symbol.json")
        save_text(path, symbol_json(overrides))
        print(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="symbols", help="output folder")
    return run_main(body, parser.parse_args(argv))
