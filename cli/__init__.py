"""facies.cli: the ``facies`` command line, a thin Typer layer over :mod:`facies.engine`."""
