"""``facies report`` in a real browser: headless Chromium loads the page, its DOM holds every section and only
embedded images, and its screenshot is a PNG that is not blank.

Console messages are not checked: Chromium's new headless mode (156 here) does not print them with
``--enable-logging``, so such a check could not fail. The page has no script, and its Content-Security-Policy
allows only ``data:`` images (tests/test_report.py checks both statically).

Skipped where no chromium, chromium-browser or google-chrome executable is found (install it with
``apt-get install -y chromium``; README, "The report").
"""

from __future__ import annotations

import shutil
import subprocess
from io import BytesIO

import numpy as np
import pytest

from tests.helpers import run_cli, writable_copy
from tests.test_report import SECTIONS

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)

pytestmark = [pytest.mark.usefixtures("cpu_only"),
              pytest.mark.skipif(BROWSER is None, reason="no chromium, chromium-browser or google-chrome executable "
                                                         "on PATH (apt-get install -y chromium)")]
#: Headless flags: no sandbox (CI runs as root), no GPU, no first-run work or background networking.
FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-dev-shm-usage"]


def _browser(profile, *args) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_page_loads_and_renders_in_chromium(tiny_synthetic, tmp_path):
    store = writable_copy(tiny_synthetic, tmp_path)
    page = tmp_path / "report.html"
    result = run_cli("report", store, "--out", page)
    assert result.exit_code == 0, result.output
    url = page.resolve().as_uri()

    dom = _browser(tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for key in SECTIONS:
        assert f'<section id="{key}">' in dom.stdout, key
    assert dom.stdout.count("<img ") == dom.stdout.count('<img src="data:image/png;base64,') > 0

    shot = tmp_path / "shot.png"
    run = _browser(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(data)).convert("RGB"))
    assert pixels.shape[:2] == (2000, 1200)
    colours = np.unique(pixels.reshape(-1, 3) // 16, axis=0)  # coarse bins: anti-aliasing alone gives few
    assert len(colours) > 50, f"only {len(colours)} colours: a blank page?"
