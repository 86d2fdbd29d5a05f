"""Train ICD (or the CAM-only baseline, model.mode=cam) as a config says; resumes a killed run.

    python tools/train.py --config configs/voc_vgg16_icd.yaml train.gpus=[0,1]
"""
from . import training_command


def main(argv=None):
    return training_command(__doc__, "train", lambda cfg, out: f"trained {cfg.out_dir}: last checkpoint "
                                                               f"{out['checkpoint']}", argv)
