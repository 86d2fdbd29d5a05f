"""Networks: dilated VGG16, the ICD heads, sign flip, superpixel refinement, losses."""
from .icd import ICDNet, default_reduce  # noqa: F401
from .losses import td_warmup_iters, td_warmup_weight  # noqa: F401
from .vgg import DilatedVGG16  # noqa: F401
