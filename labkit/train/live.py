"""A live loss plot for notebooks: a holoviews ``Buffer`` stream feeding a ``DynamicMap``.

Each update only sends the new points to the stream; bokeh redraws the curve in place. Outside a
notebook (no IPython display) nothing is shown and the buffers still fill, so the plot can be
displayed later.
"""

from __future__ import annotations

from labkit.train.callbacks import Callback, TrainState

__all__ = ["LiveLossPlot"]


class LiveLossPlot(Callback):
    """Stream train and validation losses into a holoviews plot.

    Parameters
    ----------
    every : int
        Push new points every this many steps (and at each evaluation).
    display : bool
        Show the plot when training starts (needs a notebook front end; rank 0 only).

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from labkit.train import TrainConfig, fit
    >>> plot = LiveLossPlot(every=1, display=False)
    >>> x = torch.randn(8, 3)
    >>> history = fit(torch.nn.Linear(3, 3), TensorDataset(x, x),
    ...               loss=torch.nn.functional.mse_loss,
    ...               config=TrainConfig(epochs=2, batch_size=4), callbacks=[plot])
    >>> list(plot.buffers["train"].data["step"]) == history.step
    True
    """

    def __init__(self, every: int = 5, display: bool = True) -> None:
        self.every = every
        self.display = display
        self._sent = {"train": 0, "val": 0}
        self.buffers = None
        self.plot = None

    def _make(self) -> None:
        import holoviews as hv
        import pandas as pd

        empty = pd.DataFrame({"step": [], "loss": []})
        self.buffers = {
            kind: hv.streams.Buffer(empty, length=1_000_000, index=False) for kind in self._sent
        }

        def curve(kind: str):
            def draw(data):
                line = hv.Curve(data, "step", "loss", label=kind)
                if hv.Store.renderers:  # options need a loaded plotting backend
                    line = line.opts(logy=True, width=520, height=280, tools=["hover"])
                return line

            return hv.DynamicMap(draw, streams=[self.buffers[kind]])

        self.plot = curve("train") * curve("val")

    def on_train_start(self, state: TrainState) -> None:
        shown = False
        if self.display and state.context.is_main:
            try:
                import holoviews as hv
                from IPython import get_ipython

                if get_ipython() is not None:
                    hv.extension("bokeh", logo=False)
                    shown = True
            except ImportError:
                pass
        self._make()
        if shown:
            from IPython.display import display

            display(self.plot)

    def _push(self, kind: str, steps: list[int], losses: list[float]) -> None:
        import pandas as pd

        start = self._sent[kind]
        if len(steps) > start:
            self.buffers[kind].send(pd.DataFrame({"step": steps[start:], "loss": losses[start:]}))
            self._sent[kind] = len(steps)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every == 0:
            self._push("train", state.history.step, state.history.train_loss)

    def on_eval(self, state: TrainState) -> None:
        self._push("val", state.history.val_step, state.history.val_loss)

    def on_train_end(self, state: TrainState) -> None:
        self._push("train", state.history.step, state.history.train_loss)
        self._push("val", state.history.val_step, state.history.val_loss)
