"""DRS output profiles and model rules (pure)."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
from pydantic import ValidationError

from gateway.wire.drs import AccessMethod, DrsObject, ServiceInfo, dump, group_unresolved
from gateway.wire.drs_profile import service_info_profile, to_profile

OBJ = {
    "id": "dg.X/1", "self_uri": "drs://h/dg.X%2F1", "size": 3, "created_time": "2024-01-01T00:00:00Z",
    "checksums": [{"checksum": "ab", "type": "md5"}],
    "access_methods": [
        {"type": "s3", "access_id": "s3", "region": "us-east-1", "cloud": "aws", "available": True,
         "authorizations": {"supported_types": ["BearerAuth"]}},
        {"type": "gs", "access_id": "gs", "cloud": "gcp"},
    ],
}
INFO = {
    "id": "x", "name": "n", "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"},
    "organization": {"name": "o", "url": "http://o"}, "version": "1", "maxBulkRequestLength": 10,
    "drs": {"maxBulkRequestLength": 10, "objectCount": 2, "totalObjectSize": 5},
}


def test_1_5_passes_documents_through():
    assert to_profile(OBJ, "1.5") is OBJ
    assert service_info_profile(INFO, "1.5") is INFO


def test_1_2_strips_1_3_access_method_keys_without_touching_the_input():
    before = copy.deepcopy(OBJ)
    out = to_profile(OBJ, "1.2")
    assert before == OBJ
    assert out["access_methods"] == [{"type": "s3", "access_id": "s3", "region": "us-east-1"},
                                     {"type": "gs", "access_id": "gs"}]
    assert {k: v for k, v in out.items() if k != "access_methods"} == {
        k: v for k, v in OBJ.items() if k != "access_methods"}
    bundle = {k: v for k, v in OBJ.items() if k != "access_methods"}
    assert to_profile(bundle, "1.2") == bundle


def test_1_2_service_info_has_only_service_info_keys():
    before = copy.deepcopy(INFO)
    out = service_info_profile(INFO, "1.2")
    assert before == INFO
    assert set(out) == {"id", "name", "type", "organization", "version"}
    assert out["type"] == {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"}


def test_unknown_profile_is_rejected():
    with pytest.raises(ValueError, match=r"1\.4"):
        to_profile(OBJ, "1.4")
    with pytest.raises(ValueError):
        service_info_profile(INFO, "2")


def test_models_round_trip_and_never_emit_nulls():
    obj = DrsObject.model_validate(OBJ)
    out = dump(obj)
    assert out["created_time"] == "2024-01-01T00:00:00Z"
    assert "null" not in str(out) and None not in out.values()
    assert "name" not in out and "updated_time" not in out
    naive = DrsObject.model_validate({**OBJ, "created_time": datetime(2024, 5, 6, 7, 8, 9)})
    assert dump(naive)["created_time"] == "2024-05-06T07:08:09Z"
    assert dump(ServiceInfo.model_validate(INFO)) == INFO


def test_model_rules():
    with pytest.raises(ValidationError):
        AccessMethod.model_validate({"type": "s3"})  # neither access_url nor access_id
    with pytest.raises(ValidationError):
        AccessMethod.model_validate({"type": "http", "access_id": "x"})
    with pytest.raises(ValidationError):
        DrsObject.model_validate({**OBJ, "checksums": []})
    with pytest.raises(ValidationError):
        DrsObject.model_validate({k: v for k, v in OBJ.items() if k != "created_time"})
    extra = DrsObject.model_validate({**OBJ, "form": "object", "index_created_time": "x"})
    assert "form" not in dump(extra)


def test_unresolved_groups_by_status():
    groups = group_unresolved([(404, "a"), (401, "b"), (404, "c"), (404, "a")])
    assert [g.model_dump() for g in groups] == [
        {"error_code": 401, "object_ids": ["b"]}, {"error_code": 404, "object_ids": ["a", "c"]}]
