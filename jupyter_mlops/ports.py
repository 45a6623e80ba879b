"""Listening on a host and port: one clear error for a bad port, a port in use, an unknown host.

Both standalone servers (``jupyter mlops serve``, ``jupyter mlops server``) start through
:func:`listening`, so ``--port 70000``, a port another process holds and a host name that does
not resolve each end in one sentence saying what to change, never a traceback.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from jupyter_mlops.errors import Conflict, InvalidInput


def listening(app: Any, host: str, port: int, **options: Any) -> Any:
    """``app.listen(port, address=host, **options)`` of a tornado app, its errors said plainly."""
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidInput(f"The port must be a number from 1 to 65535, not {port!r}.")
    try:
        return app.listen(port, address=host, **options)
    except socket.gaierror:
        raise InvalidInput(
            f"Cannot listen on {host!r}: no such address here (use 127.0.0.1, 0.0.0.0 or an "
            "address of this machine)."
        ) from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise Conflict(
                f"Port {port} on {host} is in use by another process; pick another with --port."
            ) from None
        raise InvalidInput(f"Cannot listen on {host}:{port}: {e.strerror or e}.") from None
