"""The rich console the CLI prints through (stdout; progress bars use stderr)."""

import json
import sys

from rich.console import Console

from facies.engine.provenance import jsonable

# Wide when piped (not a terminal) so tables are not squeezed into 80 columns in logs and files.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def print_json(value) -> None:
    """Print a JSON-serialisable value (``--json`` output), indented, on stdout."""
    print(json.dumps(jsonable(value), indent=2))


def fmt_number(value) -> str:
    """Six significant digits, or nothing for a missing value (table cells)."""
    return "" if value is None else f"{value:.6g}"
