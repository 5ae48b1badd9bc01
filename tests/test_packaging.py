"""The wheel ships every folder of the package, the top-level templates and the migrations."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _folders(base: Path, prefix: str) -> set[str]:
    found = {prefix}
    for path in base.rglob("*"):
        if path.is_dir() and "__pycache__" not in path.parts and any(path.iterdir()):
            found.add(prefix + "." + ".".join(path.relative_to(base).parts))
    return found


def test_every_folder_is_listed_for_the_wheel():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    expected = (
        _folders(ROOT / "caseapp", "caseapp")
        | _folders(ROOT / "templates", "caseapp.templates")
        | _folders(ROOT / "migrations", "caseapp.migrations")
    )
    assert listed == expected
    mapped = config["package-dir"]
    assert mapped["caseapp.templates"] == "templates"
    assert mapped["caseapp.migrations"] == "migrations"
    for package in listed:
        directory = ROOT / mapped.get(package, package.replace(".", "/"))
        if package.startswith("caseapp.templates."):
            directory = ROOT / "templates" / package.removeprefix("caseapp.templates.")
        if package.startswith("caseapp.migrations."):
            directory = ROOT / "migrations" / package.removeprefix("caseapp.migrations.")
        assert directory.is_dir(), package
        assert any(p.is_file() for p in directory.rglob("*")), (
            f"{package} has no files (git keeps none)"
        )
