"""TensorBoard both ways: runs exported as event files, event files imported as runs.

- :func:`export_runs` writes runs' metric histories and params (as HParams) into event files
  that TensorBoard reads; :func:`live_export` keeps them growing while runs log.
- :func:`import_logdir` turns a TensorBoard log folder into runs (needs ``tensorboard``).
- :func:`start_tensorboard` serves a folder on 127.0.0.1 (needs ``tensorboard``).

Writing needs nothing beyond the standard library (:mod:`.events` frames the records and encodes
the protobuf messages by hand). Capturing ``SummaryWriter`` into runs lives in
:mod:`jupyter_mlops.tracking.autolog_tensorboard`. The command line is ``jupyter mlops
tensorboard export|import`` and the magic ``%mlops_tensorboard``.
"""

from __future__ import annotations

from jupyter_mlops._lazy import lazy_api

_API = {
    "export_runs": "jupyter_mlops.tensorboard.export",
    "import_logdir": "jupyter_mlops.tensorboard.importer",
    "live_export": "jupyter_mlops.tensorboard.live",
    "stop_live_exports": "jupyter_mlops.tensorboard.live",
    "start_tensorboard": "jupyter_mlops.tensorboard.server",
    "stop_tensorboard": "jupyter_mlops.tensorboard.server",
}
__getattr__, __dir__, __all__ = lazy_api(__name__, _API)
