"""Integers as superscripts and subscripts, checked against the Unicode names of the characters."""
import unicodedata

from ntk_desktop.notation import subscript, superscript


def test_every_digit_and_the_minus_sign():
    for n in (-1234567890, 9, 0):
        for char, sup, sub in zip(str(n), superscript(n), subscript(n)):
            word = "MINUS" if char == "-" else unicodedata.name(char).split()[-1]   # "DIGIT ONE" -> ONE
            assert unicodedata.name(sup) == f"SUPERSCRIPT {word}"
            assert unicodedata.name(sub) == f"SUBSCRIPT {word}"
    assert superscript(-3) == "⁻³" and subscript(12) == "₁₂"
