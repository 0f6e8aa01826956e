"""The configuration file as a settings source: pydantic-settings' own YAML source, for exactly one named file.

pydantic-settings' :class:`~pydantic_settings.YamlConfigSettingsSource` reads a YAML file, which pydantic-settings
then merges with the other sources in the order :class:`gateway.settings.gateway.Settings` gives them. This source
reads it strictly: the file was named by the operator, so a missing or unreadable file, invalid YAML or anything but
a mapping at top level is a :class:`ConfigError` saying which file and why (the library's own source would skip a
missing file and take ``[]`` or ``0`` as no settings).
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings, YamlConfigSettingsSource


class ConfigError(Exception):
    """The configuration cannot be used: the file is missing, unreadable or not a mapping; or (a subclass raised as
    the gateway starts) a section its feature compiles means nothing it can run, e.g. a field mapping."""


class YamlFileSource(YamlConfigSettingsSource):
    """The settings in the YAML file at ``path`` (none without a path)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        if path is not None:
            _require_file(path)  # the library skips what is not a file; a named file must be one
        super().__init__(settings_cls, yaml_file=path)

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        try:
            data = yaml.safe_load(file_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {file_path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {file_path} is not valid YAML: {exc}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"config file {file_path} must hold a mapping at top level")
        return data


def _require_file(path: Path) -> None:
    """:class:`ConfigError` when ``path`` cannot be opened for reading (missing, a directory, no permission)."""
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
