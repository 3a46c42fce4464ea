"""A plain ``pip install .`` must ship every package, the migrations included."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_directory_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapped = {name: ROOT / path for name, path in config["package-dir"].items()}
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "app").rglob("__init__.py")
    }
    on_disk |= {name for name, path in mapped.items() if (path / "__init__.py").exists()}
    assert listed == on_disk


def test_migrations_install_as_a_package() -> None:
    from importlib import resources

    scripts = resources.files("app.migrations")
    assert (scripts / "env.py").is_file()
    assert (scripts / "script.py.mako").is_file()
    assert any(entry.name.endswith(".py") for entry in (scripts / "versions").iterdir())


def test_the_consoles_templates_and_assets_are_package_data() -> None:
    """Listed in pyproject's package-data, so a plain ``pip install .`` has them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["app.console"]
    console = ROOT / "app" / "console"
    shipped = {path for pattern in patterns for path in console.glob(pattern)}
    on_disk = {path for folder in ("templates", "static") for path in (console / folder).iterdir()}
    assert on_disk
    assert shipped == on_disk
