"""Static rows of the security test plan: templates never bypass autoescaping (X2), and no SQL is
built from strings (Q3, what bandit's B608 and ``text(f"…")`` checks look for). Each exception is
listed with the reason it is safe; a new one fails until it is reviewed and listed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "caseapp"
TEMPLATES = ROOT / "templates"

# path relative to the repository -> why it is safe
MARKUP_ALLOWED = {
    "caseapp/auth/views.py": "the QR code: an SVG of shapes only, checked before it is marked safe",
    "caseapp/forms.py": "LongSelect: every option's value and label goes through escape() first",
    "caseapp/indicators/views.py": "the dashboard's figures: rendered by Jinja with autoescape, "
    "kept in indicator_cache for a few minutes and shown back as they were rendered",
}
SQL_ALLOWED = {
    "caseapp/synthetic.py": "the demo generator's bulk insert: table and column names come from "
    "the models' metadata and a PRAGMA takes an int(); no value from a request or a file",
    "migrations/versions/0001_foundation.py": "DDL of the audit guards: trigger, table and "
    "message names are constants of the migration",
}
UNSAFE_TEMPLATE = re.compile(
    r"\|\s*safe\b|Markup\s*\(|autoescape\s+false|\{%-?\s*autoescape\b", re.IGNORECASE
)
SQL_START = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|PRAGMA|CREATE|DROP|ALTER|TRUNCATE|WITH)\b", re.IGNORECASE
)
SQL_CALLS = {"text", "exec_driver_sql", "execute", "executescript", "executemany"}


def _python_files() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *(ROOT / "migrations").rglob("*.py")])


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def unsafe_template_lines(text: str) -> list[int]:
    return [n for n, line in enumerate(text.splitlines(), 1) if UNSAFE_TEMPLATE.search(line)]


def _starts_like_sql(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        node = node.values[0] if node.values else node
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(SQL_START.match(node.value))
    )


def built_sql(source: str) -> list[int]:
    """Lines where SQL text is built from pieces: an f-string, ``%`` or ``.format`` or ``+`` on a
    string that starts like SQL, or a non-literal first argument to ``text()``/``execute()``."""
    found: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        pieces = (
            (isinstance(node, ast.JoinedStr) and _starts_like_sql(node))
            or (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Mod | ast.Add)
                and _starts_like_sql(node.left)
            )
            or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"
                and _starts_like_sql(node.func.value)
            )
        )
        if isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            pieces = pieces or (
                name in SQL_CALLS and isinstance(node.args[0], ast.JoinedStr | ast.BinOp)
            )
        if pieces:
            found.add(getattr(node, "lineno", 0))
    return sorted(found)


@pytest.mark.plan("X2")
def test_templates_do_not_bypass_autoescape(app):
    offenders: list[str] = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        lines = unsafe_template_lines(path.read_text("utf-8"))
        offenders += [f"{_relative(path)}:{n}" for n in lines]
    assert offenders == []
    for path in _python_files():
        source = path.read_text("utf-8")
        if "render_template_string" in source:
            offenders.append(f"{_relative(path)}: render_template_string")
        if re.search(r"\bMarkup\s*\(", source) and _relative(path) not in MARKUP_ALLOWED:
            offenders.append(f"{_relative(path)}: Markup(")
    assert offenders == []
    assert app.jinja_env.autoescape("page.html") is True  # Flask's default, still in force


def test_the_template_check_can_fail():
    assert unsafe_template_lines("{{ a|safe }}\n{{ b }}\n{% autoescape false %}") == [1, 3]
    assert unsafe_template_lines("{{ name }} {{ note|e }}") == []


@pytest.mark.plan("Q3")
def test_no_sql_built_from_strings():
    offenders = [
        f"{_relative(path)}:{line}"
        for path in _python_files()
        if _relative(path) not in SQL_ALLOWED
        for line in built_sql(path.read_text("utf-8"))
    ]
    assert offenders == []
    for allowed in SQL_ALLOWED:  # the list stays honest: each entry still needs to be there
        assert built_sql((ROOT / allowed).read_text("utf-8")), allowed


def test_the_sql_check_can_fail():
    source = (
        'db.session.execute(sa.text(f"SELECT * FROM cases WHERE code = {code}"))\n'
        'conn.exec_driver_sql("DELETE FROM x WHERE id = " + ident)\n'
        'q = "UPDATE users SET role = %s" % role\n'
        'q2 = "SELECT {}".format(col)\n'
        'ok = sa.text("SELECT 1 WHERE code = :code")\n'
        'label = f"Selected {n} cases"\n'
    )
    assert built_sql(source) == [1, 2, 3, 4]
