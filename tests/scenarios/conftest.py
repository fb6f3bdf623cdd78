"""Scenario pass rate, printed at the end of the run (every scenario is one test case)."""

from __future__ import annotations

import pytest

_RESULTS: dict[str, bool] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "test_scenarios.py::test_scenario" not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _RESULTS[report.nodeid] = report.passed


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _RESULTS:
        return
    passed = sum(_RESULTS.values())
    total = len(_RESULTS)
    terminalreporter.write_sep("-", "scenarios")
    terminalreporter.write_line(f"scenario pass rate: {passed}/{total} ({100 * passed / total:.1f}%)")
    for nodeid, ok in sorted(_RESULTS.items()):
        if not ok:
            terminalreporter.write_line(f"  FAILED {nodeid.split('[', 1)[-1].rstrip(']')}")
