"""Charts that follow the JupyterLab theme: matplotlib figures as SVG coloured by CSS variables.

A PNG is drawn once, in one set of colours: in the dark theme it is a glaring white box. Here a
figure is rendered to SVG with a transparent background and real ``<text>`` (``svg.fonttype =
none``), and every grey of the drawing (text, spines, ticks, grid, threshold lines) is replaced by
the JupyterLab variable of the same role with the light theme's colour as fallback::

    #000000 .. #595959  ->  var(--jp-ui-font-color1, #212121)    text, spines, thresholds
    #5a5a5a .. #8c8c8c  ->  var(--jp-ui-font-color2, #616161)    secondary text, stable bars
    #8d8d8d .. #c7c7c7  ->  var(--jp-border-color1, #bdbdbd)     ticks' faint lines
    #c8c8c8 .. #ffffff  ->  var(--jp-border-color2, #e0e0e0)     grid, edges

Series colours (tab20, the drift reds and blues) are mid-tone hues that read on both themes and
are kept. Inline in a notebook output (or an ipywidgets ``HTML``), the SVG takes the page's
variables, so it follows a theme switch without being redrawn; in nbconvert HTML or on GitHub
the fallbacks give the light look. Nothing here imports IPython: any panel can use it.
"""

from __future__ import annotations

import io
import re
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["figure_to_svg", "theme_color"]

_GREYS = (
    (0x59, "var(--jp-ui-font-color1, #212121)"),
    (0x8C, "var(--jp-ui-font-color2, #616161)"),
    (0xC7, "var(--jp-border-color1, #bdbdbd)"),
    (0xFF, "var(--jp-border-color2, #e0e0e0)"),
)
TEXT = "var(--jp-ui-font-color1, #212121)"
FONT = (
    "var(--jp-ui-font-family, system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif)"
)
_HEX = re.compile(r"#([0-9a-fA-F]{6})\b")
_FONT_FAMILY = re.compile(r"font-family: [^;\"]*")
_HEADER = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
# matplotlib writes each text's raw string into a comment: a label holding "-->" would end the
# comment and become markup. Comments are dropped (the text itself is escaped by matplotlib).
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SIZE = re.compile(r'<svg([^>]*?) width="([\d.]+)pt" height="([\d.]+)pt"')
# matplotlib's `*{...}` style block would apply to the whole page once inline: moved to the root.
_GLOBAL_STYLE = re.compile(r'\s*<style type="text/css">\*\{([^}]*)\}</style>')
# Path coordinates to 0.1 pt: finer than a pixel can show, and long lines get half as big.
# Only inside `d="..."`: labels (text nodes) keep every digit they were given.
_PATH_DATA = re.compile(r'(?<=\sd=")[^"]*')
_FINE_NUMBER = re.compile(r"(-?\d+\.\d)\d+")
_LOCK = threading.Lock()  # matplotlib's text layout caches are shared between threads


def theme_color(hex_color: str) -> str:
    """The CSS colour that replaces ``#rrggbb`` in a themed chart (greys only; hues stay).

    Parameters
    ----------
    hex_color : str
        ``#rrggbb``.

    Returns
    -------
    str
        A ``var(--jp-..., fallback)`` for a grey, else ``hex_color`` unchanged.
    """
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    if max(red, green, blue) - min(red, green, blue) > 6:  # a hue, not a grey
        return hex_color
    level = (red + green + blue) // 3
    return next(css for top, css in _GREYS if level <= top)


def figure_to_svg(figure: Figure, css_class: str = "jp-mlops-svg", max_scale: float = 1.0) -> str:
    """``figure`` as inline SVG markup whose colours follow the JupyterLab theme.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    css_class : str
        Class of the ``<svg>`` element.
    max_scale : float
        The SVG fills its container's width, up to this many times its natural width (text
        stays readable: never shrunk below what the container allows, never blown up).

    Returns
    -------
    str
        ``<svg ...>...</svg>``, safe to put inside HTML (labels are escaped by matplotlib).
    """
    import matplotlib as mpl

    buffer = io.StringIO()
    with _LOCK, mpl.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", transparent=True)
    return _restyle(buffer.getvalue(), css_class, max_scale)


def _restyle(svg: str, css_class: str, max_scale: float) -> str:
    svg = _METADATA.sub("", _HEADER.sub("", svg, count=1), count=1)
    svg = _COMMENT.sub("", svg)
    svg = _PATH_DATA.sub(lambda m: _FINE_NUMBER.sub(r"\1", m.group(0)), svg)
    svg = _HEX.sub(lambda m: theme_color(m.group(0)), svg)
    svg = svg.replace('<text style="', f'<text style="fill: {TEXT}; ')
    svg = _FONT_FAMILY.sub(f"font-family: {FONT}", svg)

    inherited = ""
    found = _GLOBAL_STYLE.search(svg)
    if found:
        inherited = found.group(1).strip().rstrip(";") + "; "
        svg = _GLOBAL_STYLE.sub("", svg, count=1)

    def size(match: re.Match[str]) -> str:
        width = float(match.group(2)) * 4 / 3  # pt -> CSS px
        style = f"{inherited}width: 100%; max-width: {width * max_scale:.0f}px; height: auto"
        return f'<svg class="{css_class}" style="{style}" role="img"{match.group(1)}'

    return _SIZE.sub(size, svg, count=1)
