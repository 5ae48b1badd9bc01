"""Every row of the security test plan (docs/security-test-plan.md) has a test, and every
``@pytest.mark.plan(...)`` names a row of the plan.

The markers are read from the test files' source (``ast``), not from the collected items: the check
then holds whichever part of the suite is selected (``pytest tests/security``, ``-k``, ``-x``…),
costs a few milliseconds, and imports nothing (the browser tests need Playwright to import).
Only literal row ids on ``test_*`` functions, ``Test*`` classes and module ``pytestmark`` count.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "docs" / "security-test-plan.md"
TESTS = ROOT / "tests"
ROW = re.compile(r"^\|\s*([A-Z]\d+)\s*\|", re.MULTILINE)


@dataclass(frozen=True)
class Marker:
    rows: tuple[str, ...]
    where: str  # path::name, for messages
    problem: str = ""  # set when the marker cannot be read statically


def plan_rows(text: str) -> list[str]:
    """The row ids of the plan's tables, in order."""
    return ROW.findall(text)


def _is_plan_mark(node: ast.expr) -> bool:
    """``pytest.mark.plan(...)`` (or ``mark.plan(...)``)."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "plan"
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "mark"
    )


def _marker(call: ast.Call, where: str) -> Marker:
    rows = []
    for arg in call.args:
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            return Marker((), where, "row ids must be string literals")
        rows.append(arg.value)
    if call.keywords or not rows:
        return Marker(tuple(rows), where, "plan() takes one or more row ids, nothing else")
    return Marker(tuple(rows), where)


def _marks_in(node: ast.expr) -> list[ast.Call]:
    """Plan marks in a decorator or a ``pytestmark`` value (a mark or a list/tuple of marks)."""
    if isinstance(node, ast.List | ast.Tuple):
        return [m for element in node.elts for m in _marks_in(element)]
    return [node] if _is_plan_mark(node) else []  # type: ignore[list-item]


def markers_in_source(source: str, name: str) -> list[Marker]:
    """The plan markers of one test module's source."""
    found: list[Marker] = []
    tree = ast.parse(source, filename=name)

    def visit(body: list[ast.stmt], prefix: str, in_test_class: bool) -> None:
        for statement in body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in statement.targets
            ):
                where = f"{name}::{prefix}pytestmark"
                found.extend(_marker(m, where) for m in _marks_in(statement.value))
            elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                is_class = isinstance(statement, ast.ClassDef)
                where = f"{name}::{prefix}{statement.name}"
                collected = (
                    statement.name.startswith("Test")
                    if is_class
                    else statement.name.startswith("test_") and (in_test_class or not prefix)
                )
                for decorator in statement.decorator_list:
                    for call in _marks_in(decorator):
                        marker = _marker(call, where)
                        if not collected:
                            marker = Marker(marker.rows, where, "not a test pytest collects")
                        found.append(marker)
                if is_class:
                    visit(statement.body, f"{prefix}{statement.name}::", collected)

    visit(tree.body, "", False)
    return found


def collect_markers(tests: Path = TESTS) -> list[Marker]:
    """The plan markers of every test module under ``tests``."""
    found: list[Marker] = []
    for path in sorted(tests.rglob("test_*.py")):
        found.extend(markers_in_source(path.read_text("utf-8"), str(path.relative_to(ROOT))))
    return found


def coverage_problems(rows: list[str], markers: list[Marker]) -> list[str]:
    """What is wrong: rows without a test, unknown rows, unreadable markers; empty when fine."""
    problems = [f"{m.where}: {m.problem}" for m in markers if m.problem]
    known = set(rows)
    duplicates = sorted({r for r in rows if rows.count(r) > 1})
    problems += [f"row {r} appears more than once in the plan" for r in duplicates]
    for marker in markers:
        problems += [
            f"{marker.where}: plan({row!r}) names no row of the plan"
            for row in marker.rows
            if row not in known
        ]
    covered = {row for m in markers if not m.problem for row in m.rows}
    problems += [f"row {r} has no test marked plan({r!r})" for r in rows if r not in covered]
    return problems


def test_every_plan_row_has_a_test_and_every_marker_a_row():
    rows = plan_rows(PLAN.read_text("utf-8"))
    assert len(rows) >= 71, "the plan's table was not found or lost rows"
    problems = coverage_problems(rows, collect_markers())
    assert not problems, "security test plan coverage:\n" + "\n".join(problems)


SAMPLE = """
import pytest
pytestmark = [pytest.mark.plan("B1"), pytest.mark.slow]

@pytest.mark.plan("A1", "L2")
def test_one(): ...

@pytest.mark.plan("Z9")
def test_unknown(): ...

@pytest.mark.plan(ROW)
def test_dynamic(): ...

@pytest.mark.plan("A2")
def helper(): ...

class TestGroup:
    @pytest.mark.plan("A3")
    def test_in_class(self): ...
"""


def test_the_checker_finds_what_is_wrong():
    """The checker itself can fail: unknown rows, missing rows, unreadable markers are named."""
    markers = markers_in_source(SAMPLE, "sample.py")
    assert [(m.rows, m.where) for m in markers if not m.problem] == [
        (("B1",), "sample.py::pytestmark"),
        (("A1", "L2"), "sample.py::test_one"),
        (("Z9",), "sample.py::test_unknown"),
        (("A3",), "sample.py::TestGroup::test_in_class"),
    ]
    problems = coverage_problems(["A1", "A2", "A3", "B1", "L2", "M1"], markers)
    assert "sample.py::test_dynamic: row ids must be string literals" in problems
    assert "sample.py::helper: not a test pytest collects" in problems
    assert "sample.py::test_unknown: plan('Z9') names no row of the plan" in problems
    assert "row M1 has no test marked plan('M1')" in problems
    assert "row A2 has no test marked plan('A2')" in problems  # a helper's marker does not count
    assert not any("A1" in p or "A3" in p or "B1" in p for p in problems)
    assert coverage_problems(["A1"], [Marker(("A1",), "x.py::test_x")]) == []


def test_plan_rows_are_read_from_the_tables_only():
    text = "| # | Test | Expected |\n|---|---|---|\n| A1 | `t` | ok |\n| S2 | `u` | ok |\nA3 text\n"
    assert plan_rows(text) == ["A1", "S2"]
