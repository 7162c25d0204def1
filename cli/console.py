"""The rich console the CLI prints through (stdout; progress bars use stderr)."""

import sys

from rich.console import Console

# Wide when piped (not a terminal) so tables are not squeezed into 80 columns in logs and files.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
