"""``facies report``: one self-contained HTML page of a survey's results (docs in README, "The report").

- :mod:`.target`: where the page may be written, and how facies knows a page it wrote;
- :mod:`.document`: the page's content as plain data (sections of text, tables and PNG figures);
- :mod:`.figures`: matplotlib figures as PNG bytes; :mod:`.slices`: slice positions, overlays and slice figures;
- :mod:`.survey_sections`, :mod:`.model_sections`, :mod:`.selection_section`, :mod:`.accuracy_section`: the sections;
- :mod:`.page`: the HTML (every text escaped, images as data URIs, CSS inline, no script);
- :mod:`.workflow`: :func:`write_report`, the one call of the command.
"""

from facies.engine.report.workflow import ReportResult, write_report

__all__ = ["ReportResult", "write_report"]
