"""The newcomer's contract: pyproject's console script, the Makefile targets, and docker-compose naming
only real CLI commands and real configuration keys (no Docker engine runs here, so we parse it)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
import yaml

from gateway.cli.main import build_parser
from gateway.settings.gateway import Settings

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


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_describes_gateway_redis_and_two_commons():
    services = _compose()["services"]
    assert {"gateway", "redis"} <= set(services)
    commons = [s for s in services.values() if s.get("command", [])[:3] == ["gateway", "refcommons", "serve"]]
    assert len(commons) == 2
    prefixes = {c["command"][c["command"].index("--prefix") + 1] for c in commons}
    assert len(prefixes) == 2
    assert set(services["gateway"]["depends_on"]) >= {"redis"}


def test_compose_redis_persists_the_store():
    """Redis holds the gateway's store in the compose file: it must come back from a restart with it (issue 14)."""
    redis = _compose()["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])


@pytest.mark.parametrize("name", ["gateway", "commons-a", "commons-b"])
def test_compose_commands_parse_with_the_real_cli(name):
    command = _compose()["services"][name]["command"]
    assert command[0] == "gateway"
    args = build_parser().parse_args(command[1:])
    assert callable(args.func)


def test_compose_environment_names_real_settings(monkeypatch):
    env = _compose()["services"]["gateway"]["environment"]
    for key in list(os.environ):
        if key.startswith("GATEWAY_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = Settings()
    assert settings.store.url == env["GATEWAY_STORE__URL"]
    assert settings.cache.url == env["GATEWAY_CACHE__URL"]
    assert str(settings.refcommons.data_dir) == env["GATEWAY_REFCOMMONS__DATA_DIR"]
    # the declared members are exactly the compose file's two commons, by their service URLs and prefixes
    services = _compose()["services"]
    declared = {m.base_url: m.prefixes for m in settings.registry.members}
    for name in ("commons-a", "commons-b"):
        command = services[name]["command"]
        url = command[command.index("--public-url") + 1]
        assert declared[url] == [command[command.index("--prefix") + 1]]
    from gateway.registry.config_members import declared_members

    assert {m.id for m in declared_members(settings)} == {"commons-a", "commons-b", "refcommons"}


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
