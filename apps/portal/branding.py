"""Accessible colours from a tenant's brand colour (WCAG 2.1 contrast, pure functions).

The header keeps the tenant's own colour as its background and picks the text colour
that reads on it (white, else near-black, else a darker shade of the brand with white).
Links and buttons sit on the light page, so they use `strong`: the brand colour darkened
(same hue) until it reaches 4.5:1 against the page background (and so against white).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOUR = "#1f4f8f"
WHITE = "#ffffff"
DARK = "#1b1f24"  # --fg of warden.css
PAGE = "#f6f8fa"  # --bg of warden.css, the darkest light surface text sits on
AA_TEXT = 4.5


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """Relative luminance (WCAG 2.1, 1.4.3)."""
    r, g, b = (_linear(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def darken_until(colour: str, *, against: tuple[str, ...], minimum: float = AA_TEXT) -> str:
    """`colour` scaled towards black (hue kept) until it has `minimum` contrast with every
    colour in `against` (light colours). Black always qualifies against light colours."""
    rgb = _rgb(colour)
    factor = 1.0
    while factor > 0:
        candidate = _hex(tuple(c * factor for c in rgb))
        if all(contrast(candidate, other) >= minimum for other in against):
            return candidate
        factor -= 0.02
    return "#000000"


def valid_colour(colour: str | None) -> str:
    return colour.lower() if isinstance(colour, str) and HEX.match(colour) else DEFAULT_COLOUR


@dataclass(frozen=True)
class Theme:
    colour: str  # the tenant's colour, validated
    header_bg: str
    header_fg: str
    strong: str  # links, buttons, focus accents on the light page
    on_strong: str  # text on `strong` (buttons)
    adjusted: bool  # the brand colour alone could not carry white text

    @property
    def header_contrast(self) -> float:
        return contrast(self.header_bg, self.header_fg)


def theme_for(colour: str | None) -> Theme:
    colour = valid_colour(colour)
    strong = darken_until(colour, against=(WHITE, PAGE))
    if contrast(colour, WHITE) >= AA_TEXT:
        header_bg, header_fg = colour, WHITE
    elif contrast(colour, DARK) >= AA_TEXT:
        header_bg, header_fg = colour, DARK
    else:
        header_bg, header_fg = darken_until(colour, against=(WHITE,)), WHITE
    return Theme(
        colour=colour,
        header_bg=header_bg,
        header_fg=header_fg,
        strong=strong,
        on_strong=WHITE,
        adjusted=strong != colour or header_fg != WHITE,
    )
