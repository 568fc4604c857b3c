"""Stand-in for wandb on the GPU machine: neuraloperator imports it at import time.

The benchmarks only build neuraloperator's models and never log, so an empty module is enough;
``run_all.sh`` puts this folder on ``PYTHONPATH`` only where no real wandb is installed.
"""
