"""``%mlops_tensorboard``: TensorBoard over the runs, exported and followed live.

A thin adapter over :func:`jupyter_mlops.tensorboard.server.show_runs`. It shows the URL as
text and as a link (no iframe: those break behind proxies and in VS Code).
"""

from __future__ import annotations

import html
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_mlops.jupyter.magic_util import call, parse


@magics_class
class TensorBoardMagics(Magics):
    """The ``%mlops_tensorboard`` magic."""

    @magic_arguments()
    @argument("-e", "--experiment", action="append", metavar="EXP", help="only this experiment")
    @argument(
        "--logdir", metavar="DIR", help="where the event files go (default: ./tensorboard_logs)"
    )
    @argument("-p", "--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    @argument("--stop", action="store_true", help="stop this kernel's TensorBoard and live export")
    @line_magic
    def mlops_tensorboard(self, line: str) -> Any:
        """Start TensorBoard over the runs: exported as event files, new points followed live.

        The runs (of ``-e`` experiments, default all) are written under ``--logdir`` (default
        ``./tensorboard_logs``), one TensorBoard run per run, with params as HParams; runs that
        are logging keep being appended to every two seconds. TensorBoard (the
        ``[tensorboard]`` extra) starts on 127.0.0.1 and the magic prints its URL with a link.
        Running it again reuses the same TensorBoard.

        Examples
        --------
        In [1]: %load_ext jupyter_mlops

        In [2]: %mlops_tensorboard -e digits
        TensorBoard at http://127.0.0.1:40123/ over /home/me/tensorboard_logs (3 runs ...)

        In [3]: %mlops_tensorboard --logdir /tmp/tb -p 6006

        In [4]: %mlops_tensorboard --stop
        """
        args = parse(self.mlops_tensorboard, line, "mlops_tensorboard")
        if args.stop:
            return _stop()
        from jupyter_mlops.tensorboard.server import DEFAULT_LOGDIR, show_runs

        view = call(show_runs, args.logdir or DEFAULT_LOGDIR, args.experiment, args.port)
        return _Link(str(view), view.server.url)


class _Link:
    """One line as text, and the same line with the URL as a link in HTML."""

    def __init__(self, text: str, url: str):
        self.text, self.url = text, url

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        url = html.escape(self.url, quote=True)
        rest = html.escape(self.text.replace(f"TensorBoard at {self.url} ", ""))
        return (
            f'<div class="jp-mlops-tensorboard">TensorBoard: <a href="{url}" target="_blank" '
            f'rel="noopener">{url}</a> <span style="opacity:.7">{rest}</span></div>'
        )


def _stop() -> None:
    from jupyter_mlops.tensorboard.live import stop_live_exports
    from jupyter_mlops.tensorboard.server import stop_tensorboard

    stop_live_exports()
    stopped = stop_tensorboard()
    print(f"stopped {len(stopped)} TensorBoard{'s' * (len(stopped) != 1)} and the live export")


def register(ipython: Any) -> None:
    """Register ``%mlops_tensorboard`` (called from ``load_ipython_extension``)."""
    ipython.register_magics(TensorBoardMagics(ipython))
