"""Shared test settings: small thread pools (2 cores, many tests) and off-screen 3-D."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("PYVISTA_OFF_SCREEN", "true")
os.environ.setdefault("BOKEH_RESOURCES", "inline")
os.environ.setdefault("MPLBACKEND", "Agg")
