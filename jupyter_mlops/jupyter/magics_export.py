"""``%mlops_export``: export a notebook (by default the one this kernel runs) as a pipeline.

A thin adapter over :func:`jupyter_mlops.pipelines.export.export_notebook`: it parses the
line, finds the current notebook when none is named, calls the core and prints one line.
The notebook is read from disk, so unsaved edits are not exported: save first.
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

TARGETS = ("python", "airflow", "kfp")


@magics_class
class ExportMagics(Magics):
    """The ``%mlops_export`` magic."""

    @magic_arguments()
    @argument("notebook", nargs="?", help="the .ipynb file (default: this notebook)")
    @argument("--to", dest="target", required=True, choices=TARGETS, help="target")
    @argument("-o", "--output", metavar="DIR", help="folder to write (default: NOTEBOOK_<target>/)")
    @argument("--single-step", action="store_true", help="one step for the whole notebook")
    @line_magic
    def mlops_export(self, line: str) -> None:
        """Export a notebook as a pipeline: local Python, an Airflow DAG or a Kubeflow pipeline.

        Steps come from Kale's cell tags (``block:NAME``, ``prev:NAME``, ``imports``,
        ``functions``, ``pipeline-parameters``, ``pipeline-metrics``, ``skip``) or, in a notebook
        without tags, from its top-level markdown headings; ``--single-step`` makes one step.
        What each step needs from the steps above is found by static analysis; a name that no
        cell above defines is reported now, with its cell. The notebook file is only read:
        save it first. ``!pip install`` lines go to ``requirements.txt``; other ``!`` lines run
        with subprocess; magics a pipeline cannot run are refused with the cell they are in.

        Examples
        --------
        In [1]: %load_ext jupyter_mlops

        In [2]: %mlops_export --to python
        ✓ exported churn.ipynb → /home/me/churn_python/ (7 files) · run it: jupyter mlops ...

        In [3]: %mlops_export churn.ipynb --to airflow -o dags/

        In [4]: %mlops_export churn.ipynb --to kfp --single-step
        """
        from jupyter_mlops.errors import MlopsError
        from jupyter_mlops.pipelines.export import describe_export, export_notebook

        args = self._parse(line)
        notebook = args.notebook or self._current_notebook()
        try:
            files = export_notebook(notebook, args.target, args.output, args.single_step)
        except MlopsError as e:
            raise UsageError(str(e)) from e
        print(describe_export(notebook, args.target, files))

    def _parse(self, line: str) -> Any:
        try:
            return parse_argstring(self.mlops_export, line)
        except UsageError as e:
            raise UsageError(f"%mlops_export: {e}. See %mlops_export?") from e

    def _current_notebook(self) -> str:
        from jupyter_mlops.jupyter.notebook_path import find_notebook_path

        path = find_notebook_path(self.shell.user_ns if self.shell else None)
        if not path:
            raise UsageError(
                "%mlops_export cannot tell which notebook this is: name it, e.g. "
                "%mlops_export churn.ipynb --to python"
            )
        return path


def register(ipython: Any) -> None:
    """Register ``%mlops_export`` on ``ipython`` (called from ``load_ipython_extension``)."""
    ipython.register_magics(ExportMagics(ipython))
