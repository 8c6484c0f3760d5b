"""compare: status changes, regressions (a status that got worse), numbers moved beyond uncertainty."""

import copy

from losslab.report.compare import compare_reports, render_text, uncertainty_of


def _row(report, cid):
    return next(r for r in report["claims"] if r["id"] == cid)


def test_identical_reports_have_no_differences(sample_report):
    diff = compare_reports(sample_report, copy.deepcopy(sample_report))
    assert diff["status_changes"] == diff["regressions"] == diff["moved"] == diff["changed"] == []
    assert "regressions (status got worse): 0" in render_text(diff)


def test_reproduced_to_not_reproduced_is_a_regression(sample_report):
    new = copy.deepcopy(sample_report)
    _row(new, "TST1-PASS")["status"] = "not reproduced"
    _row(new, "TST1-SKIP")["status"] = "reproduced"  # an improvement, not a regression
    diff = compare_reports(sample_report, new)
    assert diff["regressions"] == ["TST1-PASS"]
    assert {(c["id"], c["old"], c["new"], c["regression"]) for c in diff["status_changes"]} == {
        ("TST1-PASS", "reproduced", "not reproduced", True), ("TST1-SKIP", "skipped", "reproduced", False)}
    text = render_text(diff)
    assert "TST1-PASS: reproduced -> not reproduced" in text and "other status changes: 1" in text


def test_regressions_follow_the_status_order(sample_report):
    def change(old, new):
        a, b = copy.deepcopy(sample_report), copy.deepcopy(sample_report)
        _row(a, "TST1-PASS")["status"], _row(b, "TST1-PASS")["status"] = old, new
        return compare_reports(a, b)["regressions"] == ["TST1-PASS"]
    assert change("reproduced", "reproduced at reduced scale")
    assert change("reproduced at reduced scale", "inconclusive")
    assert change("inconclusive", "not reproduced")
    assert change("not run at this tier", "error")
    assert not change("not reproduced", "inconclusive")
    assert not change("inconclusive", "reproduced at reduced scale")


def test_numbers_move_only_beyond_their_uncertainty(sample_report):
    new = copy.deepcopy(sample_report)
    evidence = _row(new, "TST1-PASS")["tests"][0]["evidence"]
    evidence["measured"]["ratio"] = 0.515  # |delta| 0.015 <= 0.01 + 0.01
    assert compare_reports(sample_report, new)["moved"] == []
    evidence["measured"]["ratio"] = 0.53  # |delta| 0.03 > 0.02
    (moved,) = compare_reports(sample_report, new)["moved"]
    assert moved["id"] == "TST1-PASS" and moved["quantity"] == "ratio" and abs(moved["allowed"] - 0.02) < 1e-12
    assert "ratio: 0.5 -> 0.53" in render_text(compare_reports(sample_report, new))


def test_values_without_uncertainty_are_reported_when_changed(sample_report):
    new = copy.deepcopy(sample_report)
    _row(new, "TST1-XF")["tests"][0]["evidence"]["measured"] = 2.5
    diff = compare_reports(sample_report, new)
    assert diff["moved"] == [] and [(c["id"], c["old"], c["new"]) for c in diff["changed"]] == [("TST1-XF", 2.0, 2.5)]


def test_uncertainty_forms():
    assert uncertainty_of({"measured": 1.0, "uncertainty": 0.1}, "value") == 0.1
    assert abs(uncertainty_of({"measured": 1.0, "uncertainty": [0.8, 1.2]}, "value") - 0.2) < 1e-12
    assert uncertainty_of({"measured": {"a": 1, "b": 2}, "uncertainty": 0.1}, "a") is None  # ambiguous
    assert uncertainty_of({"measured": {"a": 1}, "uncertainty": {"a": [0, 1]}}, "a") == 0.5
    assert uncertainty_of({"measured": {"a": 1}, "uncertainty": "about 5%"}, "a") is None
