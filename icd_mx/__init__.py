"""icd-mx: Intra-Class Discriminator (Fan et al., CVPR 2020) on MXNet/Gluon."""
from . import cuda as _cuda

_cuda.install_hook()  # the GPU build: the pip CUDA wheels are found by `import mxnet` (docs/gpu.md)
