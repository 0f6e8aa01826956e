"""Gen3-style policy evaluation (pure): resource hierarchy, groups, anonymous and all-users policies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refcommons.authz.default_policy import (
    ADMIN_USER,
    MEMBER_USER,
    RESEARCHER_USER,
    default_policy_document,
    load_policy,
)
from refcommons.authz.policy import PolicyDocument, PolicyError, allows, covers
from refcommons.synth import generate_dataset

READ = [{"method": "read", "service": "*"}]


def doc(**authz) -> dict:
    """A small user.yaml: roles reader/storage/admin, policies on a few resources."""
    base = {
        "roles": [
            {"id": "reader", "permissions": [{"id": "r", "action": {"service": "*", "method": "read"}}]},
            {"id": "storage", "permissions": [{"id": "s", "action": {"service": "fence", "method": "read-storage"}}]},
            {"id": "admin", "permissions": [{"id": "a", "action": {"service": "*", "method": "*"}}]},
        ],
        "policies": [
            {"id": "open", "resource_paths": ["/programs/open"], "role_ids": ["reader", "storage"]},
            {"id": "study", "resource_paths": ["/programs/phs001234"], "role_ids": ["reader", "storage"]},
            {"id": "study_c1", "resource_paths": ["/programs/phs001234.c1"], "role_ids": ["reader"]},
            {"id": "short", "resource_paths": ["/programs/phs0012"], "role_ids": ["admin"]},
            {"id": "everything", "resource_paths": ["/"], "role_ids": ["admin"]},
            {"id": "signed_in", "resource_paths": ["/programs/members"], "role_ids": ["reader"]},
        ],
    }
    return {"authz": {**base, **authz}}


# --- the hierarchy rule ---------------------------------------------------------------------------


def test_a_grant_covers_its_path_and_everything_beneath():
    assert covers("/programs/phs001234", "/programs/phs001234")
    assert covers("/programs/phs001234", "/programs/phs001234/projects/HEART")
    assert covers("/programs/phs001234/", "/programs/phs001234/projects")
    assert covers("/", "/programs/anything/at/all")


def test_string_prefixes_that_split_a_segment_do_not_cover():
    assert not covers("/programs/phs0012", "/programs/phs001234")
    assert not covers("/programs/phs001234", "/programs/phs001234.c1")
    assert not covers("/programs/phs001234/projects/A", "/programs/phs001234")  # a child never covers its parent


def test_relative_or_dotted_paths_are_never_covered():
    assert not covers("/", "programs/phs001234")
    assert not covers("/programs", "/programs/open/../phs001234")
    assert not covers("/programs/open/..", "/programs/open")


segment = st.text(alphabet="abcz019._-", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@given(st.lists(segment, max_size=4), st.lists(segment, max_size=4))
def test_covers_is_exactly_segment_prefix(granted, resource):
    g, r = "/" + "/".join(granted), "/" + "/".join(resource)
    assert covers(g, r) == (resource[: len(granted)] == granted)


@given(st.lists(segment, min_size=1, max_size=3), segment, segment)
def test_extending_the_last_segment_never_stays_covered(parents, last, extra):
    granted = "/" + "/".join([*parents, last])
    assert not covers(granted, "/" + "/".join([*parents, last + extra]))
    assert covers(granted, granted + "/" + extra)


# --- allows ---------------------------------------------------------------------------------------


def test_every_requested_resource_must_be_covered():
    authz = {"/programs/a": READ}
    assert allows(authz, "read", ["/programs/a/x", "/programs/a/y"])
    assert not allows(authz, "read", ["/programs/a/x", "/programs/b"])


def test_no_resources_is_never_allowed_even_for_root_admins():
    assert not allows({"/": [{"method": "*", "service": "*"}]}, "read", [])


def test_method_and_service_wildcards():
    granted = {"/p": [{"method": "read-storage", "service": "fence"}], "/q": [{"method": "*", "service": "*"}]}
    assert allows(granted, "read-storage", ["/p"], "fence")
    assert allows(granted, "read-storage", ["/p"])  # a request for any service
    assert not allows(granted, "read-storage", ["/p"], "indexd")
    assert not allows(granted, "read", ["/p"], "fence")
    assert allows(granted, "delete", ["/q/z"], "indexd")


@given(st.sampled_from(["read", "read-storage", "create", "delete"]), st.lists(segment, max_size=3))
def test_a_root_wildcard_grant_allows_anything(method, resource):
    assert allows({"/": [{"method": "*", "service": "*"}]}, method, ["/" + "/".join(resource)], "indexd")


# --- the policy document --------------------------------------------------------------------------


def test_users_inherit_their_groups_policies_and_all_users_policies():
    policy = PolicyDocument.parse(
        {
            **doc(
                groups=[{"name": "consortium", "users": ["m@x"], "policies": ["study"]}],
                all_users_policies=["signed_in"],
                anonymous_policies=["open"],
            ),
            "users": {"m@x": {}, "r@x": {"policies": ["study_c1"]}},
        }
    )
    member = policy.authz_map("m@x")
    assert set(member) == {"/programs/phs001234", "/programs/members", "/programs/open"}
    assert allows(member, "read-storage", ["/programs/phs001234/projects/X"], "fence")
    assert policy.groups_of("m@x") == ["consortium"]
    researcher = policy.authz_map("r@x")
    assert allows(researcher, "read", ["/programs/phs001234.c1"])
    assert not allows(researcher, "read", ["/programs/phs001234"])
    assert not allows(researcher, "read-storage", ["/programs/phs001234.c1"])  # study_c1 is reader only
    stranger = policy.authz_map("someone-not-in-the-file@x")
    assert set(stranger) == {"/programs/members", "/programs/open"}


def test_anonymous_gets_only_anonymous_policies():
    policy = PolicyDocument.parse(
        {
            **doc(anonymous_policies=["open"], all_users_policies=["signed_in"]),
            "users": {"a@x": {"policies": ["everything"]}},
        }
    )
    assert policy.authz_map(None) == {
        "/programs/open": [{"method": "read", "service": "*"}, {"method": "read-storage", "service": "fence"}]
    }
    assert not allows(policy.authz_map(None), "read", ["/programs/members"])
    assert allows(policy.authz_map("a@x"), "delete", ["/programs/phs001234.c2"], "indexd")


def test_authz_map_has_the_user_user_shape_without_duplicates():
    policy = PolicyDocument.parse({**doc(), "users": {"u": {"policies": ["open", "open", "study"]}}})
    authz = policy.authz_map("u")
    assert authz["/programs/open"] == sorted(
        [{"method": "read", "service": "*"}, {"method": "read-storage", "service": "fence"}],
        key=lambda g: (g["service"], g["method"]),
    )
    assert list(authz) == sorted(authz)


def test_a_short_grant_does_not_leak_into_a_longer_sibling_name():
    policy = PolicyDocument.parse({**doc(), "users": {"u": {"policies": ["short"]}}})
    assert allows(policy.authz_map("u"), "read", ["/programs/phs0012/x"])
    assert not allows(policy.authz_map("u"), "read", ["/programs/phs001234"])


def test_undefined_roles_and_policies_are_rejected():
    with pytest.raises(PolicyError, match="undefined roles"):
        PolicyDocument.parse({"authz": {"policies": [{"id": "p", "resource_paths": ["/a"], "role_ids": ["nope"]}]}})
    with pytest.raises(PolicyError, match="undefined policies"):
        PolicyDocument.parse({**doc(), "users": {"u": {"policies": ["missing"]}}})
    with pytest.raises(PolicyError, match="undefined policies"):
        PolicyDocument.parse(doc(groups=[{"name": "g", "users": ["u"], "policies": ["missing"]}]))
    with pytest.raises(PolicyError, match="not an absolute resource path"):
        PolicyDocument.parse(doc(policies=[{"id": "p", "resource_paths": ["relative"], "role_ids": []}]))
    with pytest.raises(PolicyError):
        PolicyDocument.parse({"authz": {"roles": "not a list"}})


def test_nested_resources_flatten_and_unknown_sections_are_ignored():
    policy = PolicyDocument.parse(
        {
            **doc(
                resources=[{"name": "programs", "subresources": [{"name": "open", "subresources": [{"name": "x"}]}]}]
            ),
            "clients": {"some-client": {"policies": []}},
            "cloud_providers": {},
            "users": {"u": None},
        }
    )
    assert policy.resources == ("/programs", "/programs/open", "/programs/open/x")
    assert policy.authz_map("u") == {}
    assert not policy.is_admin("u")


# --- the default policy over the real dataset -----------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    return generate_dataset(prefix="dg.AZ01", seed=3, subjects=30)


def _controlled_studies(dataset) -> list[list[str]]:
    studies: dict[str, list[str]] = {}
    for r in dataset.authz_resources():
        if r.access == "controlled":
            studies.setdefault(r.path.rsplit("/", 1)[-1].split(".")[0], []).append(r.path)
    return list(studies.values())


def test_default_policy_opens_open_data_to_everyone_and_nothing_else(dataset):
    policy = load_policy(None, dataset)
    open_paths = [r.path for r in dataset.authz_resources() if r.access == "open"]
    closed = [r.path for r in dataset.authz_resources() if r.access == "controlled"]
    assert open_paths and closed, "the dataset should have open and controlled data"
    anonymous = policy.authz_map(None)
    assert set(anonymous) == set(open_paths)
    assert allows(anonymous, "read-storage", open_paths, "fence")
    for path in closed:
        assert not allows(anonymous, "read", [path])
        assert not allows(policy.authz_map("stranger@example.org"), "read", [path])


def test_default_users(dataset):
    policy = load_policy(None, dataset)
    studies = _controlled_studies(dataset)
    assert len(studies) >= 2
    first, second = studies[0], studies[1]
    everything = [r.path for r in dataset.authz_resources()]

    admin = policy.authz_map(ADMIN_USER)
    assert policy.is_admin(ADMIN_USER)
    assert allows(admin, "delete", everything, "indexd")

    researcher = policy.authz_map(RESEARCHER_USER)
    c1 = [p for p in first if p.endswith(".c1")]
    assert c1 and allows(researcher, "read-storage", c1, "fence")
    assert [p for p in everything if allows(researcher, "read-storage", [p], "fence")] == sorted(
        set(c1) | {r.path for r in dataset.authz_resources() if r.access == "open"}, key=everything.index
    )
    assert not allows(researcher, "create", c1, "indexd")

    member = policy.authz_map(MEMBER_USER)
    assert policy.groups_of(MEMBER_USER) == ["consortium"]
    assert allows(member, "read-storage", second, "fence")
    assert not any(allows(member, "read", [p]) for p in first)
    assert not policy.is_admin(MEMBER_USER)


def test_default_document_round_trips_through_yaml(dataset, tmp_path):
    import yaml

    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(default_policy_document(dataset)))
    from_file = load_policy(path, dataset)
    assert from_file.authz_map(MEMBER_USER) == load_policy(None, dataset).authz_map(MEMBER_USER)
    path.write_text("authz: [unclosed")
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(path, dataset)
    path.write_text("- just\n- a list\n")
    with pytest.raises(PolicyError, match="mapping"):
        load_policy(path, dataset)
