"""The reference commons' policy: a ``user.yaml`` file when configured, else a default derived from the dataset.

The default document (:func:`default_policy_document`) defines

* roles ``reader`` (``read``), ``storage_reader`` (``read-storage``), ``creator``/``updater``/``deleter``
  (``create``/``update``/``delete`` on service ``indexd``) and ``admin`` (``*`` on ``*``);
* one ``<resource>_reader`` policy (reader + storage_reader) per authz resource of the dataset, and
  ``all_admin`` (admin on ``/``);
* ``anonymous_policies``: the readers of every **open** resource, so open objects need no credential;

and these users:

* ``admin@refcommons.example``: ``admin: true`` with ``all_admin`` (everything on ``/``);
* ``researcher@refcommons.example``: the first controlled study's consent group ``c1`` only;
* ``member@refcommons.example``: no own policies, but a member of group ``consortium``, which is
  granted every consent group of the second controlled study.

Any other authenticated user (e.g. one an API key was minted for) gets only the open data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from refcommons.authz.policy import PolicyDocument, PolicyError
from refcommons.model import Dataset

ADMIN_USER = "admin@refcommons.example"
RESEARCHER_USER = "researcher@refcommons.example"
MEMBER_USER = "member@refcommons.example"
CONSORTIUM_GROUP = "consortium"
ADMIN_POLICY = "all_admin"

_ROLES: list[tuple[str, str, str]] = [  # (role id, service, method)
    ("reader", "*", "read"),
    ("storage_reader", "*", "read-storage"),
    ("creator", "indexd", "create"),
    ("updater", "indexd", "update"),
    ("deleter", "indexd", "delete"),
    ("admin", "*", "*"),
]


def reader_policy_id(resource_path: str) -> str:
    """``/programs/phs001234.c1`` → ``programs.phs001234.c1_reader``."""
    return resource_path.strip("/").replace("/", ".") + "_reader"


def _resource_tree(paths: list[str]) -> list[dict[str, Any]]:
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for part in path.strip("/").split("/"):
            node = node.setdefault(part, {})

    def render(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": name, "subresources": render(child)} for name, child in node.items()]

    return render(root)


def _controlled_studies(dataset: Dataset) -> list[list[str]]:
    """Each controlled study's (distinct ``phs``) resource paths, in dataset order."""
    studies: dict[str, list[str]] = {}
    for project in dataset.projects:
        if project.access == "controlled" and project.phs:
            paths = studies.setdefault(project.phs, [])
            paths.extend(p for p in (project.authz_for(c) for c in project.consent_groups) if p not in paths)
    return list(studies.values())


def default_policy_document(dataset: Dataset) -> dict[str, Any]:
    """The default ``user.yaml`` (as a dict) for ``dataset``; see the module docstring."""
    resources = dataset.authz_resources()
    paths = [r.path for r in resources]
    studies = _controlled_studies(dataset)
    first = studies[0] if studies else []
    researcher_paths = [p for p in first if p.endswith(".c1")] or first[:1]
    consortium_paths = studies[1] if len(studies) > 1 else []
    policies = [
        {"id": reader_policy_id(p), "resource_paths": [p], "role_ids": ["reader", "storage_reader"]} for p in paths
    ]
    policies.append({"id": ADMIN_POLICY, "resource_paths": ["/"], "role_ids": ["admin"]})
    return {
        "authz": {
            "resources": _resource_tree(paths),
            "roles": [
                {"id": rid, "permissions": [{"id": f"{rid}_perm", "action": {"service": svc, "method": method}}]}
                for rid, svc, method in _ROLES
            ],
            "policies": policies,
            "anonymous_policies": [reader_policy_id(r.path) for r in resources if r.access == "open"],
            "all_users_policies": [],
            "groups": [
                {
                    "name": CONSORTIUM_GROUP,
                    "users": [MEMBER_USER],
                    "policies": [reader_policy_id(p) for p in consortium_paths],
                }
            ],
        },
        "users": {
            ADMIN_USER: {"admin": True, "policies": [ADMIN_POLICY], "tags": {"role": "administrator"}},
            RESEARCHER_USER: {"policies": [reader_policy_id(p) for p in researcher_paths], "tags": {}},
            MEMBER_USER: {"policies": [], "tags": {"group": CONSORTIUM_GROUP}},
        },
    }


def load_policy(path: Path | str | None, dataset: Dataset) -> PolicyDocument:
    """The policy in the ``user.yaml`` at ``path``, or the dataset's default when ``path`` is ``None``."""
    if path is None:
        return PolicyDocument.parse(default_policy_document(dataset))
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise PolicyError(f"policy file {path} must hold a mapping, not {type(data).__name__}")
    return PolicyDocument.parse(data)
