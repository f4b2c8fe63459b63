"""Class colours: a fixed, distinguishable palette (so the same index looks the same everywhere)."""

from __future__ import annotations

# 20 well-separated colours (Tableau 20 order, darker tones first).
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)


def color_for_index(index: int) -> str:
    """The default colour of class ``index`` ("#rrggbb"); index 0 (background) is black."""
    return "#000000" if index == 0 else PALETTE[(index - 1) % len(PALETTE)]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """"#rrggbb" -> (r, g, b); raises ValueError naming the expected form."""
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour {color!r}: expected '#rrggbb'")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
