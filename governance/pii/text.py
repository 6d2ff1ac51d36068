"""Turkish-aware case folding for matching context words and names.

``str.lower()`` follows English rules: ``"KİMLİK".lower()`` gives ``"ki̇mli̇k"`` (with a combining dot) and
``"KIMLIK".lower()`` gives ``"kimlik"`` only by accident of ASCII. Forms are filled in both ways, so both
sides of a comparison are folded to a dotless, diacritic-free lower case: KİMLİK, KIMLIK, Kimlik and kimlik
all become ``kimlik``; ŞAHİN and Sahin become ``sahin``.
"""

from __future__ import annotations

import re

_TURKISH_CAPITALS = str.maketrans({"İ": "i", "I": "ı"})
_TO_ASCII = str.maketrans("ıçğöşüâîû", "icgosuaiu")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    return text.translate(_TURKISH_CAPITALS).lower().translate(_TO_ASCII)


def fold_name(text: str) -> str:
    """A person's name as one key: folded, single spaces (``AYŞE  Yılmaz`` == ``Ayse Yilmaz``)."""
    return _SPACES.sub(" ", fold(text)).strip()
