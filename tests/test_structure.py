"""The code's shape, as CONTRIBUTING.md and docs/ARCHITECTURE.md state it: one
error class per problem code, packages that import each other one way only,
files a reader can take in."""

import ast
import importlib
import pkgutil
from collections import defaultdict
from pathlib import Path

import app
from app.core.errors import AppError

APP = Path(app.__file__).parent
LONGEST_FILE = 420  # lines; data and migrations aside


def _all_modules() -> None:
    for module in pkgutil.walk_packages(app.__path__, "app."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)


def _subclasses(cls: type[AppError]) -> set[type[AppError]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_one_error_class_per_problem_code() -> None:
    _all_modules()
    classes: dict[str, list[str]] = defaultdict(list)
    for cls in _subclasses(AppError):
        classes[cls.code].append(f"{cls.__module__}.{cls.__qualname__}")
    shared = {code: names for code, names in classes.items() if len(names) > 1}
    assert shared == {}


def package_imports() -> dict[str, set[str]]:
    """Which top-level packages of ``app`` each one imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in APP.rglob("*.py"):
        relative = path.relative_to(APP).parts
        package = relative[0] if len(relative) > 1 else f"<{path.stem}>"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app."):
                target = (node.module or "").split(".")[1]
                if target != package:
                    graph[package].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found = []

    def walk(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                found.append([*path[path.index(target) :], target])
            elif len(path) < len(graph) + 1:
                walk(target, [*path, target])

    for start in sorted(graph):
        walk(start, [start])
    return found


def test_packages_import_each_other_one_way_only() -> None:
    assert cycles(package_imports()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}})


def test_no_file_is_too_long_to_read() -> None:
    long = {
        str(path.relative_to(APP)): lines
        for path in APP.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > LONGEST_FILE
        and path.name != "demo_data.py"
    }
    assert long == {}
