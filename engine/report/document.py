"""The content of a report as plain data: sections made of headings, text, tables and PNG figures.

The sections know nothing of HTML; :mod:`facies.engine.report.page` renders them (escaping every text).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Heading:
    """A sub-heading inside a section (one model of several, one slice of three)."""

    text: str


@dataclass
class Text:
    """A paragraph of plain text."""

    text: str


@dataclass
class Table:
    """A table of text cells; ``header`` names the columns."""

    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    """A PNG image and what it shows."""

    png: bytes
    caption: str


Part = Heading | Text | Table | Figure


@dataclass
class Section:
    """One section of the report: its parts, or why it is absent.

    Attributes
    ----------
    key : str
        Its HTML id (``survey``, ``amplitude``, ``facies``, ``forest``, ``gtm``, ``selection``, ``accuracy``).
    title : str
    parts : list of Part
    absent : str or None
        Why the section has nothing to show ("no forest model in this store: run facies rf train ..."), or None.
    """

    key: str
    title: str
    parts: list[Part] = field(default_factory=list)
    absent: str | None = None

    def figures(self) -> list[Figure]:
        """The figures of the section."""
        return [p for p in self.parts if isinstance(p, Figure)]


def number(value, digits: int = 4) -> str:
    """A number as short text (``g`` format); an empty cell for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)
