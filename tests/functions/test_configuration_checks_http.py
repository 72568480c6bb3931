"""`PUT /api/config` over real HTTP against the emulator: every refusal of the configuration checks.

Schema and one-writer-per-column first (400 listing all, Dynamics not asked), then every named
column against the tables' metadata (400 listing each), Dynamics unreachable 503; a refused PUT
changes nothing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from devtools import stack
from tests.functions.journey_helpers import ConfigDocument, Counter, Dynamics, assert_problem, locs, new_id

pytest_plugins = ("tests.functions.journey_fixtures",)

CUSTOM_COLUMNS = {"$entities": {
    "contact": {"attributes": {
        "new_source": {"type": "string", "maxLength": 20}, "new_segment": {"type": "string", "maxLength": 100},
        "new_engaged": {"type": "string", "maxLength": 10}, "new_sequence": {"type": "string", "maxLength": 200},
        "new_replyanalysis": {"type": "memo", "maxLength": 4000}, "new_opens": {"type": "text", "maxLength": 100},
        "new_opencount": "int", "new_platformid": {"type": "string", "maxLength": 100}}},
    "account": {"attributes": {"new_tier": {"type": "string", "maxLength": 50}, "new_score": "int"}},
    "lead": {"attributes": {"new_platformid": {"type": "string", "maxLength": 100}}},
}}

VALID: dict[str, Any] = {
    "platformName": "Acme Engage",
    "identifiers": {"lead": [["emailaddress1"], ["firstname", "lastname", "companyname"]],
                    "contact": [["emailaddress1"], ["new_platformid"]], "company": [["name"], ["websiteurl"]]},
    "exportMapping": {"fixedFields": {"contact": {"new_source": "Acme", "donotbulkemail": False},
                                      "account": {"new_score": 3}},
                      "exportFields": {"contact": ["new_segment"], "account": ["new_tier"]},
                      "engagementFields": {"contact": {"new_engaged": "Yes"}, "account": {}}},
    "campaignMapping": {"sequenceDetails": "new_sequence", "opens": "new_opens", "replyAnalysis": "new_replyanalysis"},
    "userMapping": {"identities": {"u-9": "6F2B8C1E-3A4D-4E5F-9A0B-1C2D3E4F5A6B"},
                    "defaultOwner": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"},
}


class ConfigApi:
    def __init__(self, root: str, key: str) -> None:
        self.url = f"{root}/api/config"
        self.key = key

    def get(self) -> requests.Response:
        response = requests.get(self.url, headers={"x-functions-key": self.key}, timeout=30)
        assert response.status_code == 200, response.text
        return response

    def put(self, body: Any, *, timeout: float = 60) -> requests.Response:
        etag = self.get().headers["ETag"]
        return requests.put(self.url, json=body, headers={"x-functions-key": self.key, "If-Match": etag},
                            timeout=timeout)


@pytest.fixture
def api(function_host: stack.Service, function_key: str, dynamics: Dynamics, config: ConfigDocument) -> ConfigApi:
    dynamics.seed(CUSTOM_COLUMNS)
    return ConfigApi(function_host.url, function_key)


def changed(**changes: Any) -> dict[str, Any]:
    """VALID with nested members replaced: `changed(exportMapping__exportFields__contact=[...])`."""
    doc = copy.deepcopy(VALID)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = doc
        for name in parents:
            target = target.setdefault(name, {})
        target[last] = value
    return doc


def refused(api: ConfigApi, body: dict[str, Any]) -> set[tuple[Any, ...]]:
    """PUT `body`, expect a 400, check nothing changed, and return the locations it lists."""
    before = api.get()
    response = api.put(body)
    assert_problem(response, 400)
    assert all(item["msg"] for item in response.json()["errors"])
    after = api.get()
    assert (after.headers["ETag"], after.json()) == (before.headers["ETag"], before.json())
    return locs(response)


def test_when_every_column_fits_the_configuration_is_stored_with_guids_lowercase(api: ConfigApi) -> None:
    response = api.put(VALID)
    assert response.status_code == 200, response.text
    stored = api.get().json()
    assert stored["userMapping"]["identities"]["u-9"] == "6f2b8c1e-3a4d-4e5f-9a0b-1c2d3e4f5a6b"
    assert stored["exportMapping"] == VALID["exportMapping"]
    assert stored["campaignMapping"]["engagementStatus"] is None
    assert stored["personFields"]["company"] == "companyname"  # a member left out takes its default


def test_when_a_column_is_missing_from_its_table_each_place_is_named(api: ConfigApi) -> None:
    body = changed(identifiers__lead=[["emailaddress1", "new_nosuch"]], identifiers__company=[["new_nosuch"]],
                   personFields__jobTitle="new_title", exportMapping__exportFields__account=["new_nosuch"],
                   campaignMapping__clicks="new_clicks")
    assert refused(api, body) == {("identifiers", "lead", 0, 1), ("identifiers", "company", 0, 0),
                                  ("personFields", "jobTitle"), ("exportMapping", "exportFields", "account", 0),
                                  ("campaignMapping", "clicks")}


def test_when_identifiers_or_person_fields_are_not_string_columns_they_are_refused(api: ConfigApi) -> None:
    body = changed(identifiers__contact=[["new_opencount"]], identifiers__lead=[["description"]],
                   personFields__phone="new_opencount")
    # personFields.company may name a Lead-only column; the others must exist on Contact too.
    body["personFields"]["company"] = "companyname"
    assert refused(api, body) == {("identifiers", "contact", 0, 0), ("identifiers", "lead", 0, 0),
                                  ("personFields", "phone")}


def test_when_a_campaign_field_names_a_non_text_column_it_is_refused(api: ConfigApi) -> None:
    assert refused(api, changed(campaignMapping__opens="new_opencount")) == {("campaignMapping", "opens")}


def test_when_mapped_columns_are_lookups_read_only_or_values_misfit_each_is_named(api: ConfigApi) -> None:
    body = changed(exportMapping__fixedFields__contact={"new_source": "x" * 21, "donotbulkemail": "no",
                                                        "createdon": "2026-01-01T00:00:00Z"},
                   exportMapping__fixedFields__account={"new_score": 1.5},
                   exportMapping__exportFields__contact=["originatingleadid"],
                   exportMapping__engagementFields__contact={"new_engaged": 7})
    assert refused(api, body) == {
        ("exportMapping", "fixedFields", "contact", "new_source"),
        ("exportMapping", "fixedFields", "contact", "donotbulkemail"),
        ("exportMapping", "fixedFields", "contact", "createdon"),
        ("exportMapping", "fixedFields", "account", "new_score"),
        ("exportMapping", "exportFields", "contact", 0),
        ("exportMapping", "engagementFields", "contact", "new_engaged"),
    }


def test_when_a_column_is_written_twice_each_repeat_is_named_and_dynamics_is_not_asked(
    api: ConfigApi, dynamics: Dynamics
) -> None:
    body = changed(exportMapping__exportFields__contact=["new_segment", "new_source"],
                   exportMapping__engagementFields__account={"name": "x", "new_nosuch": "y"},
                   exportMapping__fixedFields__contact={"new_source": "Acme", "ownerid": None},
                   campaignMapping__clicks="emailaddress1", personFields__company="firstname")
    counter = Counter(dynamics)
    response = api.put(body)
    assert_problem(response, 400)
    errors = {tuple(item["loc"]): item["msg"] for item in response.json()["errors"]}
    assert set(errors) == {("exportMapping", "exportFields", "contact", 1),
                           ("exportMapping", "engagementFields", "account", "name"),
                           ("exportMapping", "fixedFields", "contact", "ownerid"),
                           ("campaignMapping", "clicks"), ("personFields", "company")}
    assert "exportMapping.fixedFields.contact.new_source" in errors[("exportMapping", "exportFields", "contact", 1)]
    assert "personFields.email" in errors[("campaignMapping", "clicks")]
    assert "personFields.firstName" in errors[("personFields", "company")]
    # The repeats are reported alone: the unknown column waits for a document without them.
    assert counter.total() == 0


def test_when_the_schema_is_broken_only_schema_errors_are_listed(api: ConfigApi, dynamics: Dynamics) -> None:
    counter = Counter(dynamics)
    body = changed(platformName=" ", identifiers__lead=[["Bad-Name"]], userMapping__defaultOwner="nope",
                   exportMapping__exportFields__contact=["new_nosuch", "new_nosuch"], surprise=1)
    assert refused(api, body) == {("platformName",), ("identifiers", "lead", 0, 0), ("userMapping", "defaultOwner"),
                                  ("exportMapping", "exportFields", "contact"), ("surprise",)}
    assert counter.total() == 0


def test_when_dynamics_cannot_be_asked_the_put_is_503_with_retry_after_and_changes_nothing(
    api: ConfigApi, dynamics: Dynamics
) -> None:
    before = api.get()
    dynamics.faults({"rate5xx": 1.0, "status5xx": 503})
    response = api.put(VALID, timeout=120)
    dynamics.faults({})
    assert_problem(response, 503, "dynamicsUnavailable")
    assert int(response.headers["Retry-After"]) >= 1
    assert api.get().headers["ETag"] == before.headers["ETag"]


def test_when_a_column_is_added_in_dynamics_the_next_put_sees_it_at_once(api: ConfigApi, dynamics: Dynamics) -> None:
    column = f"new_c{new_id()[:8]}"
    assert refused(api, changed(campaignMapping__clicks=column)) == {("campaignMapping", "clicks")}
    dynamics.seed({"$entities": {"contact": {"attributes": {column: {"type": "string", "maxLength": 100}}}}})
    assert api.put(changed(campaignMapping__clicks=column)).status_code == 200


def test_the_openapi_example_of_a_put_is_accepted(api: ConfigApi) -> None:
    spec = yaml.safe_load((Path(__file__).parents[2] / "openapi.yaml").read_text(encoding="utf-8"))
    example = spec["paths"]["/config"]["put"]["requestBody"]["content"]["application/json"]["example"]
    response = api.put(example)
    assert response.status_code == 200, response.text
