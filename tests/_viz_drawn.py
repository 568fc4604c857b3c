"""What an explorer draws: its layout rendered into a live Bokeh document, read back as arrays.

``Drawn(layout)`` renders ``layout`` as a notebook or a server session would; ``arrays()`` is
every numeric column of every data source (images one array each) as it is now, after any
widget moves; ``shows(expected)`` says whether one of them equals ``expected``.
"""

from __future__ import annotations

import numpy as np
from bokeh.document import Document


class Drawn:
    """A layout rendered into a Bokeh document, to read back what its plots draw."""

    def __init__(self, layout) -> None:
        self.layout = layout
        self.doc = Document()
        self.doc.add_root(layout.get_root(self.doc))

    def arrays(self) -> list[np.ndarray]:
        """Every numeric column of every ``ColumnDataSource`` (each image on its own)."""
        out = []
        for model in list(self.doc.models):
            if type(model).__name__ != "ColumnDataSource":
                continue
            for key, column in model.data.items():
                if key == "image":
                    out += [np.asarray(image, dtype=float) for image in column]
                    continue
                try:
                    array = np.asarray(column, dtype=float)
                except (TypeError, ValueError):  # ragged (contour lines) or text
                    continue
                if array.ndim == 1 and array.size:
                    out.append(array)
        return out

    def shows(self, expected, *, rtol: float = 1e-12, atol: float = 0.0) -> bool:
        """Does a data source hold ``expected`` (same shape, equal within the tolerances)?"""
        expected = np.asarray(expected, dtype=float)
        return any(
            a.shape == expected.shape and np.allclose(a, expected, rtol=rtol, atol=atol,
                                                      equal_nan=True)
            for a in self.arrays()
        )  # fmt: skip
