"""The customer's language (Arabic or English) and the numbers they write, in either script."""

from __future__ import annotations

import re

ARABIC_LETTER = re.compile("[\u0620-\u064a\u0671-\u06d3\u06fa-\u06ff]")
LATIN_LETTER = re.compile("[A-Za-z]")
#: Arabic-Indic and Eastern Arabic-Indic digits, and the Arabic decimal separator
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫", "01234567890123456789.")
LANGUAGES = ("en", "ar")


def detect(text: str, default: str = "en") -> str:
    """``ar`` when Arabic letters outnumber Latin ones, ``en`` when Latin ones do, else ``default``."""
    arabic = len(ARABIC_LETTER.findall(text))
    latin = len(LATIN_LETTER.findall(text))
    if arabic == latin:
        return default
    return "ar" if arabic > latin else "en"


def western_digits(text: str) -> str:
    return text.translate(_DIGITS)
