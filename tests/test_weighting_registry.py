"""One file per weighting method, found without a listing: what makes adding a method one file and its
test (`mtlcore.weighting.METHOD_ORDER` only places a method in the pages' lists)."""

from __future__ import annotations

from pathlib import Path

from mtlcore import weighting
from mtlcore.registry import import_all
from mtlcore.weighting import METHOD_ORDER, WEIGHTINGS

FOLDER = Path(weighting.__file__).parent


def test_every_method_module_registers_exactly_one_method_in_the_pages_order() -> None:
    with_register = sorted(p.stem for p in FOLDER.glob("*.py") if "\n@register\n" in p.read_text(encoding="utf-8"))
    modules = [entry.factory.__module__.rsplit(".", 1)[1] for entry in WEIGHTINGS]
    assert sorted(modules) == with_register  # every method file is found and registers one method
    assert len(set(METHOD_ORDER)) == len(METHOD_ORDER)
    assert modules[:len(METHOD_ORDER)] == list(METHOD_ORDER)  # the listed ones first, in the listing's order


def test_a_module_nobody_lists_is_still_found(tmp_path, monkeypatch) -> None:
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "__init__.py").write_text("SEEN = []\n")
    for name in ("b_first", "a_unlisted", "c_unlisted"):
        (package / f"{name}.py").write_text(f"from plugins import SEEN\nSEEN.append({name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    order = import_all("plugins", ("b_first",))
    import plugins

    assert order == plugins.SEEN == ["b_first", "a_unlisted", "c_unlisted"]


def test_a_method_file_is_named_after_its_method() -> None:
    for entry in WEIGHTINGS:
        module = entry.factory.__module__.rsplit(".", 1)[1]
        assert module == entry.name or (entry.name, module) == ("config", "conflict_free"), (entry.name, module)


def test_the_family_is_metadata_on_every_method() -> None:
    assert all(entry.family for entry in WEIGHTINGS)
