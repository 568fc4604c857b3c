#!/usr/bin/env bash
# Download, on a machine with PyPI, the wheels the peers need on the GPU machine (Python 3.12,
# no network there) into .whl/ at the repository root (ignored by git, about 11 MB).
# Then: device run with carry [".whl"] and the command `bash benchmarks/gpu/run_all.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .whl
wheels=(
  neuraloperator==2.0.0 configmypy==0.2.0 ruamel.yaml==0.19.1 tensorly==0.10.0
  tensorly-torch==0.5.0 zencfg==1.0.0 pydantic==2.14.4 pydantic-core==2.50.5
  annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0
  loss-landscapes==3.0.6 pyhessian==0.1 pyamg==5.4.1
)
for wheel in "${wheels[@]}"; do
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$wheel"
done
ls .whl
