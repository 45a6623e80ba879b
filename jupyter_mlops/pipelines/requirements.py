"""Which packages a step needs: its imports, mapped to installed distributions and pinned.

Steps that fail on a worker because a package is missing from the image are a known Kale
complaint (kale #72): every target gets the list, pinned to the versions installed where the
notebook was exported. Standard-library modules are left out; a module that is not an installed
distribution (a local ``utils.py``...) is left out and reported, never guessed.
"""

from __future__ import annotations

import ast
import functools
import sys
from importlib import metadata

# Import names whose distribution is called something else.
ALIASES = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "skimage": "scikit-image",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "jupyter_mlops": "jupyter-mlops",
    "google": "protobuf",
    "attr": "attrs",
}


def imported_modules(code: str) -> list[str]:
    """Top-level names of the absolute imports in ``code``, in order."""
    found: dict[str, None] = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.setdefault(node.module.split(".")[0])
    return list(found)


def requirements_for(
    modules: list[str], extra: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """Pinned requirements for ``modules`` plus ``extra`` (``pip install`` lines).

    Returns
    -------
    requirements : list of str
        ``name==version`` for installed distributions, then ``extra`` as written.
    unknown : list of str
        Modules that are neither standard nor installed here.
    """
    pinned, unknown = [], []
    for module in modules:
        if module in sys.stdlib_module_names or module.startswith("_"):
            continue
        requirement = _pinned(ALIASES.get(module, module))
        if requirement:
            pinned.append(requirement)
        else:
            unknown.append(module)
    named = {_project(r) for r in pinned}
    pinned += [r for r in extra if _project(r) not in named]
    return list(dict.fromkeys(pinned)), unknown


@functools.lru_cache(maxsize=256)
def _pinned(distribution: str) -> str | None:
    try:
        return f"{distribution}=={metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        return None


def _project(requirement: str) -> str:
    name = requirement
    for mark in "<>=!~[; ":
        name = name.split(mark)[0]
    return name.lower().replace("_", "-")
