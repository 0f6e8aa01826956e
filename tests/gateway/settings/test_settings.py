"""Configuration: YAML overlaid by environment, validation errors, and docs kept in step with the code."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings.gateway import Settings, load_settings
from gateway.settings.reference import config_reference_table, iter_keys
from gateway.settings.yaml_source import ConfigError

DOCS = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_ones():
    s = load_settings()
    assert s.store.url.startswith("sqlite:///")
    assert s.cache.url == "memory://"
    assert s.refcommons.enabled and s.refcommons.prefix == "dg.REF0"
    assert s.base_url == "http://127.0.0.1:8080"


def test_yaml_file_then_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("port: 9000\nstore:\n  url: sqlite:///x.db\ncache:\n  max_entries: 5\n")
    s = load_settings(cfg)
    assert (s.port, s.store.url, s.cache.max_entries) == (9000, "sqlite:///x.db", 5)
    monkeypatch.setenv("GATEWAY_PORT", "9100")
    monkeypatch.setenv("GATEWAY_CACHE__MAX_ENTRIES", "7")
    s = load_settings(cfg)
    assert (s.port, s.store.url, s.cache.max_entries) == (9100, "sqlite:///x.db", 7)


def test_config_path_from_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("service_info:\n  name: From env file\n")
    monkeypatch.setenv("GATEWAY_CONFIG", str(cfg))
    assert load_settings().service_info.name == "From env file"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("prot: 1\n", "prot"),
        ("port: -1\n", "port"),
        ("port: many\n", "port"),
        ("store:\n  uri: x\n", "uri"),
        ("refcommons:\n  mount: nope\n", "mount"),
    ],
)
def test_invalid_files_are_refused_naming_the_key(tmp_path, text, key):
    cfg = tmp_path / "g.yaml"
    cfg.write_text(text)
    with pytest.raises(ValidationError) as exc:
        load_settings(cfg)
    assert key in str(exc.value)


def test_unreadable_or_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken)


def test_a_directory_or_an_empty_list_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file .*: Is a directory"):
        load_settings(tmp_path)
    for text in ("[]\n", "0\n", "just text\n"):
        bad = tmp_path / "odd.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match="mapping"):
            load_settings(bad)


def test_an_empty_file_is_the_defaults(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing set\n")
    assert load_settings(empty) == Settings()


def test_settings_read_no_file_only_load_settings_does(tmp_path, monkeypatch):
    cfg = tmp_path / "g.yaml"
    cfg.write_text("port: 9000\n")
    monkeypatch.setenv("GATEWAY_CONFIG", str(cfg))
    assert Settings().port == 8080 and Settings(port=9001).port == 9001
    assert load_settings().port == 9000
    monkeypatch.setenv("GATEWAY_PORT", "9100")  # the environment still wins over the file and arguments
    assert load_settings().port == 9100 and Settings(port=9001).port == 9100


def test_admin_token_is_secret():
    s = Settings(admin_token="s3cret")
    assert "s3cret" not in s.model_dump_json()
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "s3cret"


def test_docs_list_every_key_with_its_default():
    text = DOCS.read_text()
    begin = text.index("<!-- BEGIN KEYS")
    table = text[text.index("\n", begin) + 1 : text.index("<!-- END KEYS -->")]
    assert table == config_reference_table()
    assert len(iter_keys(Settings)) >= 20


def test_the_drs_profile_comes_from_GATEWAY_DRS_PROFILE(monkeypatch):
    from gateway.settings.gateway import Settings

    monkeypatch.setenv("GATEWAY_DRS_PROFILE", "1.2")
    monkeypatch.setenv("GATEWAY_DRS__DEADLINE", "12.5")
    settings = Settings()
    assert settings.drs_profile == "1.2" and settings.drs.deadline == 12.5
    monkeypatch.setenv("GATEWAY_DRS_PROFILE", "1.3")
    with pytest.raises(ValueError):
        Settings()


def test_an_attempt_cap_defaults_to_the_read_timeout_and_may_not_exceed_it():
    from gateway.settings.sections import UpstreamConfig

    assert UpstreamConfig(read_timeout=7.0).attempt_seconds == 7.0
    assert UpstreamConfig(read_timeout=7.0, attempt_timeout=2.0).attempt_seconds == 2.0
    with pytest.raises(ValidationError, match="attempt_timeout"):
        UpstreamConfig(read_timeout=7.0, attempt_timeout=8.0)
