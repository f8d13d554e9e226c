"""One file per weighting method, one listing of them: what makes adding a method one file, its test and
one line in `mtlcore.weighting.METHOD_MODULES`."""

from __future__ import annotations

from pathlib import Path

from mtlcore import weighting
from mtlcore.weighting import METHOD_MODULES, WEIGHTINGS

FOLDER = Path(weighting.__file__).parent


def test_every_method_module_is_listed_once_and_registers_exactly_one_method() -> None:
    with_register = sorted(p.stem for p in FOLDER.glob("*.py") if "\n@register\n" in p.read_text(encoding="utf-8"))
    assert sorted(METHOD_MODULES) == with_register  # a method file missing from the listing would never load
    assert len(set(METHOD_MODULES)) == len(METHOD_MODULES)
    modules = [entry.factory.__module__ for entry in WEIGHTINGS]
    assert modules == [f"mtlcore.weighting.{m}" for m in METHOD_MODULES]  # one each, in the listing's order


def test_a_method_file_is_named_after_its_method() -> None:
    for entry in WEIGHTINGS:
        module = entry.factory.__module__.rsplit(".", 1)[1]
        assert module == entry.name or (entry.name, module) == ("config", "conflict_free"), (entry.name, module)


def test_the_family_is_metadata_on_every_method() -> None:
    assert all(entry.family for entry in WEIGHTINGS)
