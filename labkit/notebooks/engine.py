"""The papermill engine labkit runs notebooks with: papermill's nbclient engine, minus one hang.

To capture what a cell prints into an ``ipywidgets.Output``, nbclient mimics the front end's
Output widget, and by default it also sends every captured output back to the kernel as a
``comm_msg`` on the shell channel, the way JupyterLab syncs the widget's state. With that echo,
a run without a cell time limit can wait forever for a cell's ``execute_reply``: the kernel is
idle, its iopub ``idle`` for the cell has arrived, the reply is never read. A four-cell notebook
whose second cell draws a matplotlib figure into an Output widget with
``clear_output(wait=True)`` hung in 7 of 10 runs (ipykernel 7.4, nbclient 0.11, papermill 2.7;
1 in 10 with ipykernel 6.31); without the echo it finished 30 of 30. (With a cell time limit,
nbclient polls the shell channel with a timeout and the same notebook finished 6 of 6.)

Nothing in a batch run reads the echoed state in the kernel: the executed notebook's widget
state (the outputs a rendered page shows) is filled by the client itself. So labkit's client
keeps the captured outputs and does not echo them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ENGINE_NAME", "register_engine"]

ENGINE_NAME = "labkit"


def _engine_class() -> type:
    """papermill's nbclient engine with labkit's client (classes made on first use, so that
    importing labkit does not import papermill)."""
    from nbclient.output_widget import OutputWidget
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class QuietOutputWidget(OutputWidget):
        """nbclient's Output widget mimic that keeps its outputs to itself."""

        def sync_state(self) -> None:
            """Do not echo the outputs to the kernel (see the module docstring)."""

    class LabkitNotebookClient(PapermillNotebookClient):
        def __init__(self, nb_man, **kwargs: Any) -> None:
            super().__init__(nb_man, **kwargs)
            self.widget_registry["@jupyter-widgets/output"]["OutputModel"] = QuietOutputWidget

    class LabkitEngine(NBClientEngine):
        """papermill's nbclient engine, running the notebook with labkit's client."""

        @classmethod
        def execute_managed_notebook(
            cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
            start_timeout=60, execution_timeout=None, **kwargs: Any,
        ):
            # the arguments mapped as papermill's own nbclient engine maps them
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            options = merge_kwargs(
                kwargs,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            return LabkitNotebookClient(nb_man, **options).execute()

    return LabkitEngine


def register_engine() -> str:
    """Register labkit's engine with papermill (once) and return its name.

    Examples
    --------
    >>> from papermill.engines import papermill_engines
    >>> name = register_engine()
    >>> papermill_engines.get_engine(name).__name__
    'LabkitEngine'
    """
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillException

    try:
        papermill_engines.get_engine(ENGINE_NAME)
    except PapermillException:  # not registered yet
        papermill_engines.register(ENGINE_NAME, _engine_class())
    return ENGINE_NAME
