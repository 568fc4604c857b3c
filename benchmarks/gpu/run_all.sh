#!/usr/bin/env bash
# Every benchmark that has a GPU figure to give, in one run, for the 15-minute device lease.
#
#   bash benchmarks/gpu/run_all.sh              # on the GPU machine (after fetch_wheels.sh here)
#   DEVICE=cpu SMOKE=1 PYTHON=.venv/bin/python bash benchmarks/gpu/run_all.sh   # dry run here
#
# Each benchmark runs under its own time limit; a failure is recorded and the next one runs.
# Logs go to $OUT (the device tool's folder) or benchmarks/gpu/out; the last lines printed are
# each benchmark's `ratio:` line and exit status.
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
LOGS=${OUT:-benchmarks/gpu/out}
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1
# the cp312 wheels are for the GPU machine; a CPU dry run uses the peers already installed
if [ "$DEVICE" != cpu ] && [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/labkit-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/labkit-site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PYTHON" -c "import wandb" 2>/dev/null || export PYTHONPATH=benchmarks/gpu/stubs${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')" | tee "$LOGS/device.txt"

# name | seconds | arguments (GPU sizes; the smoke sizes follow SMOKE=1)
if [ "$SMOKE" = 1 ]; then
  runs=(
    "fno|300|benchmarks/fno_vs_neuraloperator.py --device $DEVICE --resolution 32 --batch 2 --steps 3 --warmup 1"
    "navier_stokes|120|benchmarks/pde_navier_stokes.py --device $DEVICE --smoke"
    "burgers|120|benchmarks/pde_burgers.py --device $DEVICE --smoke"
    "darcy|120|benchmarks/pde_darcy_recycling.py --device $DEVICE --smoke"
    "darcy_multigrid|120|benchmarks/pde_darcy_multigrid.py --device $DEVICE --smoke"
    "hessian|300|benchmarks/hessian_vs_pyhessian.py --device $DEVICE --batch 64 --k 2 --repeats 1"
    "surface|300|benchmarks/surface_vs_loss_landscapes.py --device $DEVICE --steps 5 --repeats 1 --batch 32 --mlp-batches 64"
    "fastfood|300|benchmarks/fastfood_overhead.py --device $DEVICE --steps 2 --batch 16"
  )
else
  runs=(
    "fno|200|benchmarks/fno_vs_neuraloperator.py --device $DEVICE --resolution 256 --batch 32 --steps 30 --bf16 --compile"
    "navier_stokes|60|benchmarks/pde_navier_stokes.py --device $DEVICE --n 256 --batch 8"
    "burgers|30|benchmarks/pde_burgers.py --device $DEVICE --batch 512"
    "darcy|45|benchmarks/pde_darcy_recycling.py --device $DEVICE"
    "darcy_multigrid|90|benchmarks/pde_darcy_multigrid.py --device $DEVICE --n 421 --samples 8 --repeats 1"
    "hessian|40|benchmarks/hessian_vs_pyhessian.py --device $DEVICE"
    "surface|60|benchmarks/surface_vs_loss_landscapes.py --device $DEVICE"
    "fastfood|30|benchmarks/fastfood_overhead.py --device $DEVICE"
  )
fi
summary=()
for run in "${runs[@]}"; do
  IFS='|' read -r name seconds command <<< "$run"
  echo "== $name: $command (limit ${seconds} s)"
  timeout "$seconds" "$PYTHON" $command 2>&1 | tee "$LOGS/$name.txt"
  status=${PIPESTATUS[0]}
  ratio=$(grep '^ratio:' "$LOGS/$name.txt" | tail -n 1)
  summary+=("$name: ${ratio:-no ratio} (exit $status)")
done
printf '%s\n' "${summary[@]}" | tee "$LOGS/summary.txt"
