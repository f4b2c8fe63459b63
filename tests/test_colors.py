"""Class colours (studio/colors.py): the palette, the next unused colour, outlines, parsing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from studio.colors import PALETTE, color_for_index, contrast_outline, hex_to_rgb, next_color, parse_color
from studio.errors import InvalidInput


def _lab(color: str) -> np.ndarray:
    """sRGB "#rrggbb" -> CIELAB (D65)."""
    c = np.array(hex_to_rgb(color)) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), 0.008856))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_palette_is_distinct_and_has_no_greys_or_beiges() -> None:
    assert len(PALETTE) == len(set(PALETTE)) == 20
    assert all(parse_color(c) == c for c in PALETTE)
    for color in PALETTE:
        _, a, b = _lab(color)
        assert np.hypot(a, b) > 35, color  # CIELAB chroma: greys ~0, beiges and buff ~25
    closest = min(np.linalg.norm(_lab(a) - _lab(b)) for a, b in itertools.combinations(PALETTE, 2))
    assert closest > 15  # every pair is told apart (CIELAB distance; 2.3 is "just noticeable")
    first = min(np.linalg.norm(_lab(a) - _lab(b)) for a, b in itertools.combinations(PALETTE[:5], 2))
    assert first > 40  # the colours of the first classes are far apart


@pytest.mark.parametrize("used, expected", [
    ([], PALETTE[0]),  # a new dataset: the first colour
    ([PALETTE[0], PALETTE[1]], PALETTE[2]),  # the first unused
    ([PALETTE[1].upper()], PALETTE[0]),  # case does not matter; a gap is filled first
    (["#123456"], PALETTE[0]),  # a user's own colour takes no palette slot
    (list(PALETTE) + [PALETTE[0]], PALETTE[1]),  # all used: the least used, earliest on a tie
])
def test_next_color(used: list[str], expected: str) -> None:
    assert next_color(used) == expected


@pytest.mark.parametrize("color, outline", [
    ("#ffffff", "#000000"),  # white fill: black outline
    ("#000000", "#ffffff"),  # black fill: white outline
    ("#ffe119", "#000000"),  # yellow is light
    ("#000075", "#ffffff"),  # navy is dark
    ("#e6194b", "#000000"),  # crimson: black has the higher contrast ratio (5.1 vs 4.1)
    ("#911eb4", "#ffffff"),  # purple
])
def test_contrast_outline(color: str, outline: str) -> None:
    assert contrast_outline(color) == outline


def test_every_palette_colour_has_a_readable_outline() -> None:
    def ratio(a: str, b: str) -> float:
        from studio.colors import relative_luminance

        la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
        return (la + 0.05) / (lb + 0.05)

    assert min(ratio(c, contrast_outline(c)) for c in PALETTE) >= 4.5  # WCAG AA for text


@pytest.mark.parametrize("text, expected", [
    ("#ABCDEF", "#abcdef"),  # upper case normalised
    (" #00ff7f ", "#00ff7f"),  # blanks trimmed
])
def test_parse_color(text: str, expected: str) -> None:
    assert parse_color(text) == expected


@pytest.mark.parametrize("text", ["red", "#fff", "00ff7f", "#00ff7g", "#00ff7f00", ""])
def test_bad_colours_name_the_expected_form(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected '#rrggbb'"):
        parse_color(text)


def test_background_is_black_and_indexes_follow_the_palette() -> None:
    assert color_for_index(0) == "#000000"
    assert [color_for_index(i) for i in (1, 2, 21)] == [PALETTE[0], PALETTE[1], PALETTE[0]]
