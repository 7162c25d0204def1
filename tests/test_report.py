"""``facies report``: every section present (or saying why it is absent) on the tiny synthetic survey with and
without models, selection and labels; a self-contained page (valid HTML, every image a PNG data URI, nothing
fetched); and every refusal as one line, exit 2."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import pytest

from facies.engine import Survey
from facies.engine.report.target import MARK_TAG
from facies.engine.synth import polygons_path
from facies.engine.training import extract_training
from tests.helpers import one_line_error, run_cli, writable_copy

pytestmark = pytest.mark.usefixtures("cpu_only")

#: Every section of the page, by HTML id.
SECTIONS = ("survey", "amplitude", "facies", "forest", "gtm", "selection", "accuracy")
#: Upper bound of the page on the tiny survey with a forest and a GTM (measured: 1.0 MB, 13 pictures).
MAX_BYTES = 3_000_000
ATTRIBUTES = "rms_amplitude,similarity,texture_contrast,dip_deviation"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "wbr", "area", "base", "source"}


class _Page(HTMLParser):
    """Checks that tags balance; collects the images' sources, every href, and the sections' ids and classes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.images, self.hrefs, self.sections, self.absent, self.errors = [], [], [], [], [], []
        self.current = None
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if "href" in attrs:
            self.hrefs.append(attrs["href"])
        if tag == "section":
            self.current = attrs.get("id")
            self.sections.append(self.current)
        if tag == "p" and attrs.get("class") == "absent":
            self.absent.append(self.current)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_page(path) -> _Page:
    """Assert the page is self-contained valid HTML with PNG data URIs; return what the parser found."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and MARK_TAG in text[:1000]
    page = _Page()
    page.feed(text)
    page.close()
    assert not page.errors and not page.stack, (page.errors, page.stack)
    assert page.scripts == 0
    assert page.images, "no image in the page"
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:80]
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    assert all(h.startswith("#") for h in page.hrefs), page.hrefs
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|file:|//)""", text, re.I)
    assert "url(" not in text and "@import" not in text
    assert path.stat().st_size < MAX_BYTES
    assert tuple(page.sections) == SECTIONS
    return page


@pytest.fixture(scope="module")
def bare(tiny_synthetic, tmp_path_factory):
    """A copy of the tiny synthetic survey as made: no training table, model or selection."""
    return writable_copy(tiny_synthetic, tmp_path_factory.mktemp("report_bare"))


@pytest.fixture(scope="module")
def full(tiny_synthetic, tmp_path_factory):
    """A copy with picks, a forest ``rf`` (predicted), a GTM ``gtm`` (projected) and a selection (tiny settings)."""
    folder = tmp_path_factory.mktemp("report_full")
    path = writable_copy(tiny_synthetic, folder)
    extract_training(Survey.open(path), polygons_path(path))
    steps = [("select", path, "--training", "picks", "--attributes", "rms_amplitude,similarity", "--dims", "1-2",
              "--sem-iter", "3", "--device", "cpu", "--out", folder / "selection"),
             ("rf", "train", path, "--name", "rf", "--attributes", ATTRIBUTES, "--trees", "5", "--max-depth", "6"),
             ("rf", "predict", path, "--model", "rf", "--device", "cpu"),
             ("gtm", "fit", path, "--attributes", ATTRIBUTES, "--grid", "5", "--basis", "3", "--iterations", "10",
              "--sample", "3000"),
             ("gtm", "project", path, "--device", "cpu")]
    for step in steps:
        result = run_cli(*step)
        assert result.exit_code == 0, (step, result.output)
    return path


def test_a_bare_survey_says_why_each_result_is_absent(bare, tmp_path):
    out = tmp_path / "report.html"
    result = run_cli("report", bare, "--out", out)
    assert result.exit_code == 0, result.output
    page = check_page(out)
    assert set(page.absent) == {"facies", "forest", "gtm", "selection", "accuracy"}
    text = out.read_text()
    for reason in ("no forest model in this store: run facies rf train", "no GTM model in this store: run facies "
                   "gtm fit", "no attribute selection recorded in this store: run facies select",
                   "no facies volume in this store"):
        assert reason in text, reason
    assert "polygons of tiny.polygons.json" in text and "amplitude on inline" in text


def test_a_full_survey_has_every_section(full, tmp_path):
    out = tmp_path / "report.html"
    result = run_cli("report", full, "--out", out)
    assert result.exit_code == 0, result.output
    page = check_page(out)
    assert page.absent == []
    text = out.read_text()
    for fragment in ("facies_rf (forest rf)", "facies_gtm (GTM gtm)", "prob_rf_salt", "prob_gtm_mtd",
                     "cross-validation", "out-of-fold confusion", "importances", "latent density", "facies PDFs",
                     "colour key of (u1, u2)", "best combination per dimension", "scores and held-out accuracy",
                     "recall salt", "the store&#x27;s record of the latest selection"):
        assert fragment in text, fragment
    # amplitude 1, facies 2 models x 3 slices, forest 1, GTM 4, selection 1
    assert len(page.images) == 13
    print(f"report of the tiny survey with a forest and a GTM: {out.stat().st_size} bytes")


def test_options_choose_slices_labels_and_selection(full, tmp_path):
    out = tmp_path / "r.html"
    survey = Survey.open(full, mode="r")
    g = survey.geometry
    result = run_cli("report", full, "--out", out, "--inline", int(g.inlines[1]), "--crossline",
                     int(g.crosslines[2]), "--time", float(g.samples[3]), "--labels", "nosuch",
                     "--selection", full.parent / "selection")
    assert result.exit_code == 0, result.output
    page = check_page(out)
    assert page.absent == ["accuracy"]
    text = out.read_text()
    assert f"inline {g.inlines[1]}," in text and f"crossline {g.crosslines[2]}," in text
    assert "no label volume &#x27;nosuch&#x27;" in text


def test_without_a_polygon_file_the_training_voxels_are_drawn(full, tmp_path):
    copy = writable_copy(full, tmp_path)
    polygons_path(copy).unlink()
    out = tmp_path / "r.html"
    assert run_cli("report", copy, "--out", out).exit_code == 0
    check_page(out)
    assert "training voxels of &#x27;picks&#x27;" in out.read_text()


def test_names_are_escaped(bare, tmp_path):
    from facies.engine.report.document import Section, Text
    from facies.engine.report.page import render_page

    page = render_page("<b>x</b>", "a & b", [Section("s", "<script>", [Text('"><img src=x>')])], "f")
    assert "<script>" not in page and "<img src=x>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_refusals_are_one_line(bare, tmp_path):
    out = tmp_path / "report.html"
    one_line_error(run_cli("report", tmp_path / "missing.zarr", "--out", out))
    one_line_error(run_cli("report", bare, "--out", bare / "report.html"), "inside the survey store")
    one_line_error(run_cli("report", bare, "--out", bare / "amplitude" / "report.html"), "inside the survey store")
    one_line_error(run_cli("report", bare, "--out", tmp_path), "is a folder")
    one_line_error(run_cli("report", bare, "--out", tmp_path / "no" / "report.html"), "does not exist")
    foreign = tmp_path / "notes.html"
    foreign.write_text("<!DOCTYPE html><p>mine</p>")
    one_line_error(run_cli("report", bare, "--out", foreign, "--overwrite"), "did not write")
    assert foreign.read_text() == "<!DOCTYPE html><p>mine</p>"
    link = tmp_path / "link.html"
    link.symlink_to(foreign)
    one_line_error(run_cli("report", bare, "--out", link, "--overwrite"), "did not write")
    one_line_error(run_cli("report", bare, "--out", out, "--inline", "99999"), "inline")
    one_line_error(run_cli("report", bare, "--out", out, "--selection", tmp_path / "nowhere"), "--selection")
    assert not out.exists()
    assert run_cli("report", bare, "--out", out).exit_code == 0
    first = out.read_bytes()
    one_line_error(run_cli("report", bare, "--out", out), "earlier facies report", "--overwrite")
    assert out.read_bytes() == first
    assert run_cli("report", bare, "--out", out, "--overwrite").exit_code == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
