"""Integers as Unicode superscripts and subscripts, for labels a projector shows (10⁻³, S⁹, x₀,
f⁽²⁾): one table for every layer that writes them."""
from __future__ import annotations

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUBSCRIPT = str.maketrans("-0123456789", "₋₀₁₂₃₄₅₆₇₈₉")


def superscript(n: int) -> str:
    """``superscript(-3)`` → "⁻³"."""
    return str(int(n)).translate(_SUPERSCRIPT)


def subscript(n: int) -> str:
    """``subscript(12)`` → "₁₂"."""
    return str(int(n)).translate(_SUBSCRIPT)
