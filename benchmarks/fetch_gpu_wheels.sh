#!/usr/bin/env bash
# Fetch the wheels of benchmarks/gpu_wheels.txt (Python 3.12, manylinux x86_64: the GPU machine)
# into .whl/ (git-ignored), for benchmarks/gpu.py there; see benchmarks/gpu_machine.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p .whl
# shellcheck disable=SC2046  # one argument per wheel line
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d .whl $(grep -v '^#' benchmarks/gpu_wheels.txt | grep -v '^$')
echo "$(ls .whl/*.whl | wc -l) wheels, $(du -sh .whl | cut -f1) in .whl/"
