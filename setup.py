"""icd-mx: Intra-Class Discriminator (Fan et al., CVPR 2020) on MXNet/Gluon."""
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def pinned():
    """The tested pins (requirements.txt), minus test-only tools and the CPU mxnet
    when the GPU extra is wanted (pip cannot replace a requirement by an extra, so
    GPU users install with ICD_MX_GPU=1, see README)."""
    reqs = []
    with open(os.path.join(HERE, "requirements.txt")) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line or line.startswith("pytest") or line.startswith("flake8"):
                continue
            if line.startswith("mxnet==") and os.environ.get("ICD_MX_GPU") == "1":
                line = line.replace("mxnet==", "mxnet-cu112==")
            reqs.append(line)
    return reqs


setup(
    name="icd-mx",
    version="0.1.0",
    description="Weakly-supervised semantic segmentation by Intra-Class Discriminator (CVPR 2020) on MXNet/Gluon",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9,<3.12",
    packages=find_packages(include=["icd_mx", "icd_mx.*"]),
    package_data={"icd_mx": ["data/lists/voc2012/*.txt"]},
    install_requires=pinned(),
    extras_require={
        # On GPU machines: `ICD_MX_GPU=1 pip install -e .[gpu]` installs mxnet-cu112
        # (needs host CUDA 11.2 + cuDNN 8 + NCCL) in place of the CPU build.
        "gpu": ["mxnet-cu112==1.9.1"],
        "test": ["pytest", "flake8"],
    },
    entry_points={"console_scripts": ["icd=icd_mx.cli:main"]},
)
