"""Matplotlib figures as PNG bytes for the page (Agg backend), and the colours of facies codes."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import BinaryIO

import numpy as np

#: Written into every PNG's metadata (``Title``), as ``facies gtm show`` marks its pictures.
PNG_MARK = "facies report"
#: The first bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Resolution of the report's figures: enough to read a slice, small enough to keep the page light.
DPI = 72
#: Colour of code 0 (no data) in facies images.
NO_DATA_COLOUR = (0.85, 0.85, 0.85)


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported only when a report is drawn)."""
    import matplotlib  # noqa: PLC0415 - only when pictures are drawn

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def figure_png(fig, *, dpi: int = DPI) -> bytes:
    """The PNG bytes of a matplotlib figure, which is closed."""
    buffer = BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Title": PNG_MARK})
    finally:
        pyplot().close(fig)
    return buffer.getvalue()


def drawn_png(draw: Callable[[BinaryIO], object]) -> bytes:
    """The PNG bytes a drawing function writes into a binary stream (``facies gtm show``'s ``draw_*``)."""
    buffer = BytesIO()
    draw(buffer)
    return buffer.getvalue()


def code_colours(max_code: int) -> np.ndarray:
    """RGB per facies code 0..``max_code``: grey for 0 (no data), then matplotlib's ``tab10`` cycle."""
    plt = pyplot()
    cycle = plt.get_cmap("tab10")
    return np.array([NO_DATA_COLOUR, *(cycle((c - 1) % 10)[:3] for c in range(1, max_code + 1))])
