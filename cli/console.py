"""The rich console the CLI prints through (stdout; progress bars use stderr)."""

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
