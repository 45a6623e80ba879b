"""The package's version, for the parts that report it (model servers, the k8s export).

Written by the build into ``_version.py``; a source checkout that was never built says
``0.0.0.dev0``. A module of the base layer, so serving need not import the package's root.
"""

try:
    from jupyter_mlops._version import __version__
except ImportError:  # a source checkout that was never built
    __version__ = "0.0.0.dev0"

__all__ = ["__version__"]
