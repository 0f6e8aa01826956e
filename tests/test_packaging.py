"""The newcomer's contract: pyproject's console script, the Makefile targets, the CLI and the layers.
(The container and compose files are checked against the code in tests/test_deploy.py.)"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gateway.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def test_console_script_points_at_the_cli():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["gateway"] == "gateway.cli.main:main"


def test_makefile_and_readme_name_the_two_commands():
    makefile = (ROOT / "Makefile").read_text()
    assert "\nrun:" in makefile and "\ntest:" in makefile
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make run") < readme.index("make test")
    assert "docs/configuration.md" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# docker-compose.yml, the Dockerfile and deploy/nginx.conf: tests/test_deploy.py


def test_cli_rejects_unknown_commands():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["refcommons", "serve", "--no-such-flag"])


def _layers() -> list[str]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c["layers"] for c in contracts if c["type"] == "layers")
    return [p.strip() for layer in layers for p in layer.replace(":", "|").split("|")]


def test_every_gateway_package_has_a_layer_and_is_described():
    """A new package must be placed in a layer (or lint-imports would not check it) and described in
    docs/architecture.md, which walks the layers in the contract's order."""
    packages = {f"gateway.{p.name}" for p in (ROOT / "gateway").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(_layers())
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for package in packages:
        assert f"**`{package}`**" in doc, package
    diagram = doc[doc.index("```") : doc.index("```", doc.index("```") + 3)]
    positions = [diagram.index(package) for package in _layers()]
    assert positions == sorted(positions), "the diagram lists the layers in the contract's order"
