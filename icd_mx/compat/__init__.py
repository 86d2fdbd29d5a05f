"""Checkpoint interchange: the release's .params files and gluoncv VGG16 -> "20M"."""
from .release import export_release, load_params  # noqa: F401
from .vgg20m import convert_file, gluoncv_to_20m  # noqa: F401
