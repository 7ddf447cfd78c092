#!/usr/bin/env bash
# The whole GPU check of the compute backends in one command, for a machine with a GPU and its
# OpenCL driver (see "Running on a machine with a GPU" in bench/RESULTS.md):
#
#   bash bench/gpu_check.sh [REPORT]       (from the repository root, in the project's environment)
#
# It prints, and writes to REPORT (default gpu-check-<host>-<date>.txt): the GPU and its OpenCL
# ICDs, `ntk info --tune` (every device, its status and its tiles' timings), the backend tests on
# the GPU, and the three benchmarks with the GPU's FP32 peak.  Nothing is installed or downloaded.
# Set PYTHON to choose the interpreter (default: python3).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REPORT=${1:-gpu-check-$(hostname)-$(date +%Y%m%d-%H%M).txt}
exec > >(tee "$REPORT") 2>&1
status=0
run() {
    echo
    echo "\$ $*"
    "$@" || { echo "(exit $?)"; status=1; }
}
echo "# NTK Desktop GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
run nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
run ls -l /etc/OpenCL/vendors
run "$PY" -m ntk_desktop info --tune
run env NTK_TEST_OPENCL_DEVICE=gpu "$PY" -m pytest tests/backends -q -p no:cacheprovider
run "$PY" bench/bench_empirical.py --backends numba,opencl --device gpu --jacobian-max-width 0
run "$PY" bench/bench_analytic.py --backends numba,opencl --device gpu --sizes 512,2048,8192,16384
run "$PY" bench/bench_train.py --backends numba,opencl --device gpu
echo
echo "# done: $([ $status = 0 ] && echo 'every step succeeded' || echo 'some step failed (see above)')"
echo "report: $REPORT"
exit $status
