#!/bin/sh
# Create or update the venv with one MXNet build (called by the Makefile: docs/gpu.md); a no-op when
# that build is installed and up to date.
#   sh tools/install_venv.sh cpu|gpu VENV PYTHON
# cpu: requirements.txt (mxnet); gpu: requirements-gpu.txt (mxnet-cu112 and the pip CUDA 11 wheels).
# The build installed is recorded in VENV/.flavour; switching removes the other build first, so a
# venv never holds both (they install the same `mxnet` package).
set -e
flavour=$1 venv=$2 python=$3
# nothing to do when this build is recorded and no requirements file changed since
if [ "$(cat "$venv/.flavour" 2>/dev/null)" = "$flavour" ] && [ -f "$venv/.installed" ]; then
    stale=no
    for f in requirements.txt requirements-base.txt requirements-gpu.txt setup.py icd_mx/_fh.cpp icd_mx/_counts.cpp icd_mx/_pybuf.h tools/install_venv.sh; do
        if [ "$f" -nt "$venv/.installed" ]; then stale=yes; fi
    done
    if [ "$stale" = no ]; then exit 0; fi
fi
case "$flavour" in
    cpu) reqs=requirements.txt ;;
    gpu) reqs=requirements-gpu.txt ;;
    *) echo "error: tools/install_venv.sh: flavour must be cpu or gpu, not '$flavour'" >&2; exit 2 ;;
esac
want=3.11  # numpy 1.23.5 and mxnet 1.9.1 have no wheels past 3.11
if [ ! -x "$venv/bin/python" ]; then
    if ! command -v "$python" >/dev/null 2>&1 && [ "$python" = "python$want" ] && command -v python3 >/dev/null 2>&1; then
        python=python3  # checked below: it must be $want too
    fi
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "error: $python not found: icd-mx needs Python $want (install python$want, or make PYTHON=/path/to/python$want)" >&2
        exit 2
    fi
    have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || have=""
    if [ -z "$have" ]; then
        echo "error: $python does not run; icd-mx needs Python $want: make PYTHON=/path/to/python$want" >&2
        exit 2
    fi
    if [ "$have" != "$want" ]; then
        echo "error: $python is Python $have; icd-mx needs Python $want (numpy 1.23.5 has no wheel for $have): make PYTHON=python$want" >&2
        exit 2
    fi
    "$python" -m venv "$venv"
fi
have=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$have" != "$want" ]; then
    echo "error: $venv has Python $have; icd-mx needs Python $want: make clean, then make install PYTHON=python$want" >&2
    exit 2
fi
py="$venv/bin/python"
old=$(cat "$venv/.flavour" 2>/dev/null || true)
if [ -z "$old" ]; then  # a venv from before .flavour: tell the build by its distribution
    if "$py" -m pip show -q mxnet-cu112 >/dev/null 2>&1; then old=gpu
    elif "$py" -m pip show -q mxnet >/dev/null 2>&1; then old=cpu; fi
fi
builds=$("$py" -m pip list 2>/dev/null | grep -cE '^mxnet(-cu[0-9]+)? ' || true)
"$py" -m pip install -q --upgrade pip wheel setuptools
if [ -n "$old" ] && { [ "$old" != "$flavour" ] || [ "$builds" -gt 1 ]; }; then
    echo "replacing the $old build of MXNet ($builds installed) with the $flavour build in $venv"
    rm -f "$venv/.installed" "$venv/.flavour"
    if [ "$flavour" = cpu ]; then  # the CUDA build and its CUDA wheels
        gone=$(grep -E '^(mxnet-cu|nvidia-)' requirements-gpu.txt | sed 's/==.*//')
    else
        gone=mxnet
    fi
    present=$("$py" -m pip list --format=freeze 2>/dev/null | sed 's/==.*//' | tr 'A-Z_' 'a-z-')
    drop=""
    for p in mxnet mxnet-cu112 $gone; do
        if echo "$present" | grep -qx "$p"; then drop="$drop $p"; fi
    done
    # shellcheck disable=SC2086
    if [ -n "$drop" ]; then "$py" -m pip uninstall -q -y $drop; fi
fi
"$py" -m pip install -q -r "$reqs"
if [ "$flavour" = gpu ]; then
    ICD_MX_GPU=1 "$py" -m pip install -q --no-deps -e .
else
    "$py" -m pip install -q --no-deps -e .
fi
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ "$flavour" = gpu ]; then
    # every interpreter of this venv preloads the CUDA wheels on `import mxnet` (icd_mx/cuda.py)
    echo "import icd_mx" > "$site/zz_icd_mx_cuda.pth"
else
    rm -f "$site/zz_icd_mx_cuda.pth"
fi
n=$("$py" -m pip list 2>/dev/null | grep -cE '^mxnet(-cu[0-9]+)? ' || true)
if [ "$n" != 1 ]; then
    echo "error: $venv holds $n MXNet builds after the install; make clean, then make install or make install-gpu" >&2
    exit 1
fi
echo "$flavour" > "$venv/.flavour"
touch "$venv/.installed"
echo "$venv: the $flavour build of MXNet ($reqs); check it with: make doctor"
