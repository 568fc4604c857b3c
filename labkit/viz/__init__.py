"""labkit.viz: widget explorers for labkit results, built on panel, holoviews and pyvista.

Every explorer takes result objects (or mappings) and returns a panel layout whose widget
callbacks only re-slice and re-draw. They share one theme (``labkit.viz.theme``) and load their
JavaScript inline, so they work without a network. Each is also an app: see
``labkit.viz.apps.serve``.

Examples
--------
>>> from labkit.viz import intrinsic_dimension_at
>>> intrinsic_dimension_at([(1, 0.2), (4, 0.95)], baseline=1.0).d_int
4.0
"""

from labkit.viz.fields import field_viewer, relative_l2  # noqa: E402
from labkit.viz.intrinsic import intrinsic_dimension_at, intrinsic_explorer  # noqa: E402
from labkit.viz.pores import pore_viewer  # noqa: E402
from labkit.viz.spectrum import spectrum_explorer  # noqa: E402
from labkit.viz.surface import surface_explorer  # noqa: E402
from labkit.viz.sweep import fit_power_law, sweep_explorer  # noqa: E402
from labkit.viz.training import ema, training_monitor  # noqa: E402

__all__ = [
    "ema",
    "field_viewer",
    "fit_power_law",
    "intrinsic_dimension_at",
    "intrinsic_explorer",
    "pore_viewer",
    "relative_l2",
    "spectrum_explorer",
    "surface_explorer",
    "sweep_explorer",
    "training_monitor",
]
