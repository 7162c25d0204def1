"""Where a table or key of a TOML text is: :class:`Lines`, for messages that name the line.

``tomllib`` gives values but no positions, so the text is scanned for table headers (``[evaluate.show]``,
``[[export]]``) and key lines (``trees = ...``, ``show.out = ...``). The scan is lenient: it only
has to find the line of something tomllib has already read.
"""

from __future__ import annotations

import re

_PART = r'(?:[A-Za-z0-9_\-]+|"[^"\n]*"|\'[^\'\n]*\')'
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_ARRAY_HEADER = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]")
_HEADER = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_SPLIT = re.compile(rf"\s*({_PART})\s*(?:\.|$)")

Path = tuple[str | int, ...]


def _parts(dotted: str) -> tuple[str, ...]:
    """``a . "b.c"`` -> ``("a", "b.c")``."""
    return tuple(part.strip("\"'") for part in _SPLIT.findall(dotted))


class Lines:
    """The line (1-based) of each table and key of a TOML text.

    A table path is a tuple of names, with the index of an array-of-tables element after its name:
    ``("export", 1)`` is the second ``[[export]]``, ``("evaluate", "show")`` is ``[evaluate.show]``.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[Path, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        table: Path = ()
        in_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            quotes = line.count('"""') + line.count("'''")
            if in_string:
                in_string = quotes % 2 == 0
                continue
            if quotes % 2:
                in_string = True  # a multi-line string opens here: what follows is its text
            match = _ARRAY_HEADER.match(line)
            if match:
                name = _parts(match.group(1))
                counts[name] = counts.get(name, -1) + 1
                table = (*name, counts[name])
                self._lines.setdefault(table, number)
                continue
            match = _HEADER.match(line)
            if match:
                table = self._under_arrays(_parts(match.group(1)), counts)
                self._lines.setdefault(table, number)
                continue
            match = _KEY.match(line)
            if match:
                key = (*table, *_parts(match.group(1)))
                for end in range(len(table) + 1, len(key) + 1):  # a dotted key also defines its tables
                    self._lines.setdefault(key[:end], number)

    @staticmethod
    def _under_arrays(name: tuple[str, ...], counts: dict[tuple[str, ...], int]) -> Path:
        """``[export.x]`` after ``[[export]]``: the sub-table of the latest ``export`` element."""
        path: list[str | int] = []
        for end in range(1, len(name) + 1):
            path.append(name[end - 1])
            if name[:end] in counts and end < len(name):
                path.append(counts[name[:end]])
        return tuple(path)

    def line(self, path: Path) -> int | None:
        """The line of ``path`` (a table or a key), else of its nearest enclosing table, else None."""
        for end in range(len(path), 0, -1):
            if path[:end] in self._lines:
                return self._lines[path[:end]]
        return None
