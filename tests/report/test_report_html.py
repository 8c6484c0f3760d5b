"""claims.html: a well-formed, self-contained page with every text escaped and figures embedded."""

from html.parser import HTMLParser

from losslab.report.html import render_html
from losslab.report.write import write_report

VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}


class TagChecker(HTMLParser):
    """Records tags, checks that every non-void element is closed in order, collects src/href."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.urls, self.text = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    return checker


def test_page_is_well_formed_and_self_contained(sample_report):
    page = render_html(sample_report)
    assert page.startswith("<!DOCTYPE html>")
    checker = parse(page)
    assert checker.errors == [] and checker.stack == []
    assert checker.tags.count("html") == checker.tags.count("body") == 1
    assert "script" not in checker.tags and "link" not in checker.tags  # no JS, no external CSS
    assert all(not url.startswith(("http:", "https:", "//", "file:")) for url in checker.urls)
    assert "figures/TST1-PASS-plot.png" in checker.urls and "#claim-TST1-PASS" in checker.urls


def test_every_text_is_escaped(sample_report):
    page = render_html(sample_report)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Claim TST1-XF: a &lt; b &amp; c &gt; d" in page
    assert "Tom &amp; Jerry&#x27;s &quot;note&quot;" in page
    text = " ".join(parse(page).text)  # the parsed text shows the original characters
    assert "Sec. 1 <TST1-PASS>" in text and "ratio <= 1 <script>alert(1)</script>" in text


def test_claim_sections_show_status_source_numbers_and_tests(sample_report):
    text = " ".join(" ".join(parse(render_html(sample_report)).text).split())
    for expected in ("reproduced", "not reproduced", "skipped", "not covered", "TST1, Sec. 1 <TST1-PASS>",
                     "ratio 0.5 0.5", "1, 2", "needs --data-dir", "1/1 rejected as they should",
                     "t.py::test_pass_control", "commit abc123", "torch 2.13.0"):
        assert expected in text, expected


def test_written_report_flags_missing_figures(tmp_path, sample_report, png_bytes):
    write_report(tmp_path / "rep", sample_report["claims"], sample_report["environment"])
    page = (tmp_path / "rep" / "claims.html").read_text(encoding="utf-8")
    assert "no file figures/TST1-PASS-plot.png" in page and "<img" not in page
    (tmp_path / "rep" / "figures").mkdir()
    (tmp_path / "rep" / "figures" / "TST1-PASS-plot.png").write_bytes(png_bytes)
    write_report(tmp_path / "rep", sample_report["claims"], sample_report["environment"])
    page = (tmp_path / "rep" / "claims.html").read_text(encoding="utf-8")
    assert '<img src="figures/TST1-PASS-plot.png"' in page and "no file" not in page


def test_figure_names_outside_the_folder_are_not_embedded(sample_report):
    row = next(r for r in sample_report["claims"] if r["id"] == "TST1-PASS")
    row["tests"][0]["evidence"]["figures"] = ["../secret.png", "/etc/x.png"]
    page = render_html(sample_report)
    assert not any("secret" in u or u.startswith("/") for u in parse(page).urls)
    assert "../secret.png: not a plain path under figures/" in page


def test_save_figure_writes_the_file_and_records_its_name(tmp_path, png_bytes):
    import pytest

    from losslab.report.evidence import Evidence, evidence_from_properties
    from losslab.report.figures import save_figure

    class FakeFigure:  # the part of matplotlib's Figure that save_figure uses
        def savefig(self, path, **kwargs):
            path.write_bytes(png_bytes)

    props = []
    evidence = Evidence("TST1-PASS", props, {})
    assert save_figure(FakeFigure(), tmp_path, "TST1-PASS-a.png", evidence) == "TST1-PASS-a.png"
    save_figure(FakeFigure(), tmp_path, "TST1-PASS-b.png", evidence)
    assert (tmp_path / "TST1-PASS-a.png").read_bytes() == png_bytes
    assert evidence_from_properties(props)[2]["figures"] == ["TST1-PASS-a.png", "TST1-PASS-b.png"]
    with pytest.raises(ValueError, match="plain file name"):
        save_figure(FakeFigure(), tmp_path, "../x.png")
