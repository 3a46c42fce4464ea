"""The code's shape, as CONTRIBUTING.md and docs/ARCHITECTURE.md state it: one
error class per problem code, packages that import each other one way only,
files a reader can take in."""

import ast
import importlib
import pkgutil
import re
from collections import defaultdict
from pathlib import Path

import app
from app.core.errors import AppError
from app.models import HOLDING_STATUSES

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


# --- one writer of holding reservations (docs/ARCHITECTURE.md, "Booking") --------------

# The booking store's engine modules: the only ones that make a reservation
# hold time. The demo seed writes a dev database's made-up history (bookings
# already used, cancelled, waiting), which no booking act could make.
WRITERS = {
    "reservations/postgres.py",
    "reservations/postgres_sql.py",
    "reservations/postgres_moves.py",
    "reservations/sqlite.py",
    "reservations/sqlite_moves.py",
}
SEEDS = {"demo_bookings.py"}
# A check-in moves a confirmed booking, already holding, on: it takes no time.
TAKES_TIME = {status.name for status in HOLDING_STATUSES} - {"checked_in"}
INSERT_INTO_RESERVATIONS = re.compile(r"\binsert\s+into\s+reservations\b", re.IGNORECASE)
# SQL giving a reservation another time or space: a move takes new time.
MOVE_IN_SQL = re.compile(
    r"\bupdate\s+reservations\b[^;]*\bset\b[^;]*\b(starts_at|space_id)\s*=", re.IGNORECASE
)


def _called(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _of_reservations(node: ast.expr) -> bool:
    """Whether a chain like ``update(Reservation).where(…)`` starts on reservations."""
    while True:
        if isinstance(node, ast.Call):
            if _called(node.func) in {"insert", "update"}:
                return any(
                    isinstance(arg, ast.Name) and arg.id == "Reservation" for arg in node.args
                )
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return False


def _takes_time(value: ast.expr | None) -> bool:
    """A status that makes a reservation hold time: a holding status named, or
    a decision's status (``decision.status``: pending or confirmed)."""
    if isinstance(value, ast.Attribute):
        return value.attr in TAKES_TIME or value.attr == "status"
    return isinstance(value, ast.Name) and value.id.lower() in TAKES_TIME


def holding_writes(source: str) -> list[str]:
    """Where ``source`` makes a reservation hold time: a ``Reservation(…)``, an
    ``insert``/``update`` of reservations (or the services' ``move``) to a
    holding status, or SQL inserting into reservations."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if INSERT_INTO_RESERVATIONS.search(node.value):
                found.append(f"{where}: INSERT INTO reservations")
            if MOVE_IN_SQL.search(node.value):
                found.append(f"{where}: UPDATE reservations to another time")
        if not isinstance(node, ast.Call):
            continue
        called = _called(node.func)
        if called == "Reservation":
            found.append(f"{where}: Reservation(…)")
        status = {keyword.arg: keyword.value for keyword in node.keywords}.get("status")
        if called == "values" and _of_reservations(node.func) and _takes_time(status):
            found.append(f"{where}: insert/update(Reservation) to a holding status")
        if called == "move":
            to = node.args[3] if len(node.args) > 3 else None
            to = to or {keyword.arg: keyword.value for keyword in node.keywords}.get("to")
            if _takes_time(to):
                found.append(f"{where}: move(…) to a holding status")
    return found


def test_only_the_booking_store_writes_holding_reservations() -> None:
    writes = {
        str(path.relative_to(APP)): found
        for path in sorted(APP.rglob("*.py"))
        if str(path.relative_to(APP)) not in WRITERS | SEEDS
        and (found := holding_writes(path.read_text()))
    }
    assert writes == {}


def test_the_writer_scan_sees_each_kind_of_write() -> None:
    source = """
session.add(Reservation(space_id=1, status=ReservationStatus.confirmed))
await session.execute(update(Reservation).where(Reservation.id == 1).values(status=Status.held))
await session.execute(insert(Reservation).values(status=ReservationStatus.pending))
await move(session, staff, reservation, Status.confirmed, "approve")
await move(session, user, hold, decision.status, "accept_offer")
db.execute("INSERT INTO reservations (space_id) VALUES (1)")
db.execute("UPDATE reservations SET starts_at = :start, ends_at = :end WHERE id = :id")
"""
    assert len(holding_writes(source)) == 7
    harmless = """
await session.execute(update(Reservation).values(status=ReservationStatus.expired))
await move(session, actor, reservation, Status.cancelled, "cancel", reason)
await move(session, actor, reservation, Status.checked_in, "check_in", method)
"""
    assert holding_writes(harmless) == []


def documented_order() -> list[list[str]]:
    """The packages in the order docs/ARCHITECTURE.md lists them ("Packages"):
    a line's names (``admin, ops``), then two spaces and what they hold."""
    text = (APP.parent / "docs" / "ARCHITECTURE.md").read_text()
    block = text.split("## Packages", 1)[1].split("```", 2)[1]
    return [
        [name.strip() for name in re.split(r"\s{2,}", line, maxsplit=1)[0].split(",")]
        for line in block.splitlines()
        if line and not line.startswith(" ")  # not a description's continuation
    ]


def test_packages_import_only_those_above_them_in_the_documented_order() -> None:
    order = documented_order()
    rank = {name: index for index, group in enumerate(order) for name in group}
    packages = {path.name for path in APP.iterdir() if (path / "__init__.py").exists()}
    assert packages - set(rank) == set(), "list every package in docs/ARCHITECTURE.md"
    upward = {
        f"{package} → {target}"
        for package, targets in package_imports().items()
        if package in rank
        for target in targets
        if target in rank and rank[target] > rank[package]
    }
    assert upward == set(), "a package imports one listed below it in docs/ARCHITECTURE.md"
