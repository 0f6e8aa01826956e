"""The configuration reference: every key with its environment variable, default and meaning, as the Markdown
table in ``docs/configuration.md`` (``gateway config docs`` prints it; a test keeps the two in step)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gateway.settings.gateway import Settings


def iter_keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any, str]]:
    """Every leaf key as (dotted name, default, description): the source of docs/configuration.md."""
    out: list[tuple[str, Any, str]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(iter_keys(ann, f"{prefix}{name}."))
        else:
            default = field.get_default(call_default_factory=True)
            out.append((f"{prefix}{name}", default, field.description or ""))
    return out


def _show_default(value: Any) -> str:
    if value is None:
        return "*(empty)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel):
        return f"*{len(value)} entries: {', '.join(f'`{k}`' for k in value)}*"
    return f"`{value}`"


def env_name(dotted: str) -> str:
    return "GATEWAY_" + dotted.upper().replace(".", "__")


def config_reference_table() -> str:
    """The Markdown table of every key, its environment variable, default and meaning."""
    rows = ["| key | environment variable | default | meaning |", "|---|---|---|---|"]
    for key, default, description in iter_keys(Settings):
        rows.append(f"| `{key}` | `{env_name(key)}` | {_show_default(default)} | {description} |")
    return "\n".join(rows) + "\n"
