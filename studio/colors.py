"""Class colours: a palette chosen to be told apart on photos and from each other.

The first five entries are saturated, light colours that real shelf photos (and the demo's
blue / orange / green / red / purple products) rarely show: yellow, aqua, deep pink, sky
blue, chartreuse. The rest were picked greedily to maximise the smallest CIELAB distance to
the colours before them and to walls / wood, with greys, beiges and browns left out (they
vanish on photos). Masks are drawn as a translucent fill in the class colour plus an outline
in :func:`contrast_outline` of it, so even a dark colour stays visible.

A new class gets :func:`next_color`: the first palette colour its dataset does not use yet.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from studio.errors import InvalidInput

PALETTE: tuple[str, ...] = (
    "#ffe119",  # yellow
    "#00ffff",  # aqua
    "#ff1493",  # deep pink
    "#00bfff",  # sky blue
    "#7fff00",  # chartreuse
    "#000075",  # navy
    "#e25822",  # reddish orange (Kelly)
    "#3cb44b",  # green
    "#f032e6",  # magenta
    "#604e97",  # violet (Kelly)
    "#b3446c",  # purplish red (Kelly)
    "#aaffc3",  # mint
    "#e6194b",  # crimson
    "#dcbeff",  # lavender
    "#800000",  # maroon
    "#ee82ee",  # orchid
    "#8db600",  # yellow green (Kelly)
    "#009e8e",  # teal
    "#00ff7f",  # spring green
    "#911eb4",  # purple
)
BACKGROUND_COLOR = "#000000"
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def color_for_index(index: int) -> str:
    """The default colour of class ``index`` ("#rrggbb"); index 0 (background) is black."""
    return BACKGROUND_COLOR if index == 0 else PALETTE[(index - 1) % len(PALETTE)]


def next_color(used: Iterable[str]) -> str:
    """The first palette colour not in ``used`` (case-insensitive); once all are used, the
    one used least often (earliest on a tie)."""
    counts = Counter(c.lower() for c in used)
    return min(PALETTE, key=lambda c: (counts[c], PALETTE.index(c)))


def parse_color(color: str) -> str:
    """``color`` as lower-case "#rrggbb"; InvalidInput naming the expected form otherwise."""
    text = color.strip() if isinstance(color, str) else ""
    if not _HEX.fullmatch(text):
        raise InvalidInput(f"colour {color!r}: expected '#rrggbb' (six hex digits, e.g. '#ffe119')")
    return text.lower()


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """"#rrggbb" -> (r, g, b); raises ValueError naming the expected form."""
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour {color!r}: expected '#rrggbb'")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of "#rrggbb", 0.0 (black) .. 1.0 (white)."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in hex_to_rgb(color)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_outline(color: str) -> str:
    """"#000000" or "#ffffff", whichever has the higher WCAG contrast ratio with ``color``:
    the outline drawn around a mask filled with ``color``."""
    lum = relative_luminance(color)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"
