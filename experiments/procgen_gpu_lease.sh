#!/usr/bin/env bash
# The device-machine run of experiments/procgen_gpu.py (docs/results.md section 17), in two halves.
#
#   bash experiments/procgen_gpu_lease.sh prepare   # here: what the device lacks, into .whl/ and .gl/ (git-ignored)
#   bash experiments/procgen_gpu_lease.sh device    # there, through the device tool with carry [".whl", ".gl"]
#   BUDGET=200 bash experiments/procgen_gpu_lease.sh continue   # there: gpu1's weights on levels 148.. (gpu2)
#
# The device image (Python 3.12, torch with CUDA, numpy, pyarrow, OpenCV) has no Gymnasium, Procgen or gym3, and
# no libGL/X11 libraries, which Procgen's renderer links against (the first try of section 17 stopped there). The
# working tree that travels is limited to 64 MiB: Procgen's wheel is 47 MB, so the run of section 17 was sent with
# the committed weights under nitrogen_policies/weights and experiments/results/bc_classifier/runs taken out of the
# index for the call (git rm --cached, then git reset), the files themselves untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
    grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo '/.gl/' >>.git/info/exclude
    mkdir -p .whl .gl /tmp/amd64/partial
    for spec in gymnasium==1.4.0 farama-notifications==0.0.4 procgen-mirror==0.10.7 gym3==0.3.3 gym_notices==0.1.0 \
        cffi==1.17.1 pycparser==3.12; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .whl "$spec"
    done
    python3 -m pip wheel -q --no-deps gym==0.26.2 -w .whl # procgen imports gym; it is published as source only
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086  # $o is several options
    apt-get $o update -q
    # shellcheck disable=SC2086
    (cd .gl && apt-get $o download libgl1 libglx0 libglvnd0 libx11-6 libx11-data libxau6 libxdmcp6 libbsd0 libmd0 \
        libxcb1 libglib2.0-0 libpcre2-8-0)
    ;;
device | continue)
    export PYTHONUNBUFFERED=1
    out="${OUT:?the device tool sets OUT}"
    nvidia-smi -L >"$out/machine.txt"
    mkdir -p /tmp/gl
    for deb in .gl/*.deb; do dpkg -x "$deb" /tmp/gl; done
    export LD_LIBRARY_PATH=/tmp/gl/usr/lib/x86_64-linux-gnu:/tmp/gl/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD:$PWD/datasets"
    if [ "$1" = continue ]; then
        # gpu2 (section 17): gpu1's weights further, on levels gpu1 never saw, in what was left of the lease
        python3 experiments/procgen_gpu.py --out "$out/gpu2" --budget "${BUDGET:-200}" --collect-share 0.5 \
            --init experiments/results/bc_gate/procgen-frame/gpu1/final --first-level 148 2>&1 | tee "$out/run.log"
        exit
    fi
    # a minute on two tasks first, so that a broken install or CUDA path stops before the long collection
    timeout 80 python3 experiments/procgen_gpu.py --out /tmp/smoke --budget 60 --collect-share 0.15 \
        --tasks Chaser/easy Heist/easy 2>&1 | tee "$out/smoke.log"
    python3 experiments/procgen_gpu.py --out "$out/gpu1" --budget 470 --collect-share 0.55 2>&1 | tee "$out/run.log"
    ;;
*)
    echo "usage: bash experiments/procgen_gpu_lease.sh prepare|device|continue" >&2
    exit 2
    ;;
esac
