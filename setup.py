"""icd-mx: Intra-Class Discriminator (Fan et al., CVPR 2020) on MXNet/Gluon."""
import os

from setuptools import Extension, find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def pinned():
    """The tested pins (requirements-base.txt) and MXNet: the CPU build, or the CUDA 11.2
    build with ICD_MX_GPU=1 (pip cannot replace a requirement by an extra; both builds
    install the same ``mxnet`` package, so exactly one is required)."""
    reqs = []
    with open(os.path.join(HERE, "requirements-base.txt")) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                reqs.append(line)
    reqs.append("mxnet-cu112==1.9.1" if os.environ.get("ICD_MX_GPU") == "1" else "mxnet==1.9.1")
    return reqs


setup(
    name="icd-mx",
    version="0.1.0",
    description="Weakly-supervised semantic segmentation by Intra-Class Discriminator (CVPR 2020) on MXNet/Gluon",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11,<3.12",  # the pins are tested on 3.11 only (README)
    packages=find_packages(include=["icd_mx", "icd_mx.*"]),
    package_data={"icd_mx": ["data/lists/voc2012/*.txt"]},
    install_requires=pinned(),
    extras_require={"test": ["pytest==9.2.0", "flake8==7.1.1"]},
    # The FH superpixel segmentation in C++ (icd_mx/_fh.cpp). Optional: without a C++ compiler the
    # install still succeeds and icd_mx.fh falls back to its slow pure-Python path.
    # -ffp-contract=off: no fused multiply-add, so every float32 rounding is the release's.
    # The evaluation's one-pass counts (icd_mx/_counts.cpp), optional the same way: without it
    # icd_mx.metrics counts with numpy (the same counts, slower). -O3 vectorises its plain loops;
    # neither file is built with -ffast-math, so no rounding differs from -O2's.
    ext_modules=[Extension(f"icd_mx.{name}", [f"icd_mx/{name}.cpp"], language="c++", optional=True,
                           depends=["icd_mx/_pybuf.h"], extra_compile_args=[opt, "-std=c++11", "-ffp-contract=off"])
                 for name, opt in (("_fh", "-O2"), ("_counts", "-O3"))],
    entry_points={"console_scripts": ["icd=icd_mx.cli:main"]},
)
