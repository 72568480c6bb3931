"""CreateUpdateLead over real HTTP through the local host, against the emulator and Azurite.

Each test seeds Dynamics, calls the step, and reads Dynamics back over OData: the fields, the
links, the owner, and that a skip wrote nothing. `dynamicsRequests` is checked against the
count documented in docs/PERFORMANCE.md and against what the emulator actually served.
"""

from __future__ import annotations

from typing import Any

from tests.functions.journey_helpers import (
    ConfigDocument,
    Counter,
    Dynamics,
    Journey,
    locs,
    new_id,
    person,
    unique_email,
)

pytest_plugins = ("tests.functions.journey_fixtures",)

LEAD_SELECT = ("subject,description,firstname,lastname,emailaddress1,companyname,jobtitle,telephone1,"
               "_parentcontactid_value,_parentaccountid_value,_ownerid_value,statecode,leadsourcecode")


def body(email: str, **changes: Any) -> dict[str, Any]:
    return {"person": person(email, company="Analytical Ltd", jobTitle="CTO", phone="+44 20 1234"),
            "subject": "Webinar attendee", **changes}


def test_when_the_person_is_a_contact_the_step_skips_and_writes_nothing(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    contact_id = new_id()
    dynamics.seed({"contacts": [{"contactid": contact_id, "emailaddress1": email.upper(), "lastname": "Lovelace"}]})
    counter = Counter(dynamics)
    result = journey.ok("lead", body(email))
    assert result == {
        "outcome": "skipped", "entity": "contact", "recordId": contact_id, "activityId": None,
        "reason": "existsAsContact",
        "detail": "Ada Lovelace is already a Contact in Dynamics, so no Lead was created or updated.",
        "linkedContactId": None, "linkedAccountId": None, "duplicates": 0, "dynamicsRequests": 1,
        "idempotent": False, "dryRun": False,
    }
    assert counter.writes() == {}
    assert counter.total() == 1
    assert dynamics.find("leads", emailaddress1=email) == []


def test_when_nobody_matches_a_lead_is_created_with_every_field(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email("O'Brien").replace("@example.com", "@Example.COM")  # stored trimmed, case as given
    counter = Counter(dynamics)
    result = journey.ok("lead", body(f"  {email}  ", description="Asked about pricing",
                                     person={**person(f"  {email}  "), "fields": {"leadsourcecode": 8}}))
    assert (result["outcome"], result["entity"], result["reason"]) == ("created", "lead", None)
    assert result["dynamicsRequests"] == 2 == counter.total()
    assert counter.writes() == {"POST leads": 1}
    lead = dynamics.record("leads", result["recordId"], LEAD_SELECT)
    assert lead["subject"] == "Webinar attendee"
    assert lead["description"] == "Asked about pricing"
    assert (lead["firstname"], lead["lastname"], lead["emailaddress1"]) == ("Ada", "Lovelace", email)
    assert lead["leadsourcecode"] == 8
    assert lead["_parentcontactid_value"] is None


def test_when_an_open_lead_matches_it_is_updated_and_its_address_kept(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    lead_id = new_id()
    dynamics.seed({"leads": [{"leadid": lead_id, "emailaddress1": email.upper(), "lastname": "Old",
                              "subject": "Old topic", "jobtitle": "Engineer"}]})
    counter = Counter(dynamics)
    result = journey.ok("lead", body(email))
    assert (result["outcome"], result["recordId"], result["dynamicsRequests"]) == ("updated", lead_id, 2)
    assert counter.writes() == {"PATCH leads": 1}
    lead = dynamics.record("leads", lead_id, LEAD_SELECT)
    assert lead["emailaddress1"] == email.upper()  # never rewritten
    assert (lead["subject"], lead["lastname"], lead["jobtitle"]) == ("Webinar attendee", "Lovelace", "CTO")


def test_when_several_leads_match_the_latest_is_updated_and_duplicates_counted(
    journey: Journey, dynamics: Dynamics
) -> None:
    email = unique_email()
    older, newer, tie_low, tie_high = new_id(), new_id(), "00000000-0000-0000-0000-000000000001", \
        "ffffffff-0000-0000-0000-000000000001"
    dynamics.seed({"leads": [
        {"leadid": older, "emailaddress1": email, "lastname": "A", "modifiedon": "2026-01-01T00:00:00Z"},
        {"leadid": newer, "emailaddress1": email, "lastname": "B", "modifiedon": "2026-03-01T00:00:00Z"},
        {"leadid": new_id(), "emailaddress1": email, "lastname": "Q", "modifiedon": "2026-09-01T00:00:00Z",
         "statecode": 1, "statuscode": 3},
    ]})
    result = journey.ok("lead", body(email))
    assert (result["outcome"], result["recordId"], result["duplicates"]) == ("updated", newer, 1)
    assert "2 matching Leads exist" in result["detail"]
    tie_email = unique_email()
    dynamics.seed({"leads": [
        {"leadid": tie_high, "emailaddress1": tie_email, "lastname": "A", "modifiedon": "2026-01-01T00:00:00Z"},
        {"leadid": tie_low, "emailaddress1": tie_email, "lastname": "B", "modifiedon": "2026-01-01T00:00:00Z"},
    ]})
    assert journey.ok("lead", body(tie_email))["recordId"] == tie_low


def test_when_the_only_lead_is_qualified_a_new_lead_is_created(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    qualified = new_id()
    dynamics.seed({"leads": [{"leadid": qualified, "emailaddress1": email, "lastname": "Q",
                              "statecode": 1, "statuscode": 3}]})
    result = journey.ok("lead", body(email))
    assert result["outcome"] == "created" and result["recordId"] != qualified


def test_when_always_create_and_a_contact_exists_the_lead_is_linked_to_contact_and_account(
    journey: Journey, dynamics: Dynamics
) -> None:
    email = unique_email()
    account_id, contact_id = new_id(), new_id()
    dynamics.seed({
        "accounts": [{"accountid": account_id, "name": "Analytical Ltd"}],
        "contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "Lovelace",
                      "parentcustomerid_account@odata.bind": f"/accounts({account_id})"}],
    })
    result = journey.ok("lead", body(email, alwaysCreateLead=True))
    assert (result["outcome"], result["linkedContactId"], result["linkedAccountId"]) == (
        "created", contact_id, account_id)
    assert result["dynamicsRequests"] == 2
    lead = dynamics.record("leads", result["recordId"], LEAD_SELECT)
    assert (lead["_parentcontactid_value"], lead["_parentaccountid_value"]) == (contact_id, account_id)


def test_when_always_create_and_the_contact_has_no_account_only_the_contact_is_linked(
    journey: Journey, dynamics: Dynamics
) -> None:
    email = unique_email()
    contact_id = new_id()
    dynamics.seed({"contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "Lovelace"}]})
    result = journey.ok("lead", body(email, alwaysCreateLead=True))
    assert (result["linkedContactId"], result["linkedAccountId"]) == (contact_id, None)
    lead = dynamics.record("leads", result["recordId"], LEAD_SELECT)
    assert (lead["_parentcontactid_value"], lead["_parentaccountid_value"]) == (contact_id, None)


def test_when_always_create_and_an_unlinked_lead_exists_it_is_updated_and_linked(
    journey: Journey, dynamics: Dynamics
) -> None:
    email = unique_email()
    account_id, contact_id, lead_id = new_id(), new_id(), new_id()
    dynamics.seed({
        "accounts": [{"accountid": account_id, "name": "Analytical Ltd"}],
        "contacts": [{"contactid": contact_id, "emailaddress1": email, "lastname": "Lovelace",
                      "parentcustomerid_account@odata.bind": f"/accounts({account_id})"}],
        "leads": [{"leadid": lead_id, "emailaddress1": email, "lastname": "Lovelace"}],
    })
    counter = Counter(dynamics)
    result = journey.ok("lead", body(email, alwaysCreateLead=True))
    assert (result["outcome"], result["recordId"], result["linkedContactId"], result["linkedAccountId"]) == (
        "updated", lead_id, contact_id, account_id)
    assert counter.writes() == {"PATCH leads": 1}
    lead = dynamics.record("leads", lead_id, LEAD_SELECT)
    assert (lead["_parentcontactid_value"], lead["_parentaccountid_value"]) == (contact_id, account_id)


def test_when_a_mapped_owner_is_enabled_the_new_lead_is_theirs(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    owner, fallback = new_id(), new_id()
    dynamics.seed({"systemusers": [{"systemuserid": owner, "firstname": "Sam", "lastname": "Seller"},
                                   {"systemuserid": fallback, "firstname": "Dee", "lastname": "Fault"}]})
    config.set({"userMapping": {"identities": {"platform-user-1": owner}, "defaultOwner": fallback}})
    result = journey.ok("lead", body(unique_email(), ownerUserId="platform-user-1"))
    assert result["dynamicsRequests"] == 2
    assert dynamics.record("leads", result["recordId"], "_ownerid_value")["_ownerid_value"] == owner


def test_when_the_mapped_owner_is_disabled_the_default_owner_gets_the_lead(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    owner, fallback = new_id(), new_id()
    dynamics.seed({"systemusers": [{"systemuserid": owner, "lastname": "Gone", "isdisabled": True},
                                   {"systemuserid": fallback, "lastname": "Fault"}]})
    config.set({"userMapping": {"identities": {"platform-user-1": owner}, "defaultOwner": fallback}})
    result = journey.ok("lead", body(unique_email(), ownerUserId="platform-user-1"))
    assert dynamics.record("leads", result["recordId"], "_ownerid_value")["_ownerid_value"] == fallback
    missing = journey.ok("lead", body(unique_email(), ownerUserId="platform-user-unmapped"))
    assert dynamics.record("leads", missing["recordId"], "_ownerid_value")["_ownerid_value"] == fallback


def test_when_a_lead_is_updated_its_owner_is_kept(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    email = unique_email()
    owner, seller, lead_id = new_id(), new_id(), new_id()
    dynamics.seed({"systemusers": [{"systemuserid": owner, "lastname": "Mapped"},
                                   {"systemuserid": seller, "lastname": "Seller"}],
                   "leads": [{"leadid": lead_id, "emailaddress1": email, "lastname": "L",
                              "ownerid@odata.bind": f"/systemusers({seller})"}]})
    config.set({"userMapping": {"identities": {"u1": owner}}})
    result = journey.ok("lead", body(email, ownerUserId="u1"))
    assert result["outcome"] == "updated"
    assert dynamics.record("leads", lead_id, "_ownerid_value")["_ownerid_value"] == seller


def test_when_identifiers_are_configured_the_second_set_finds_the_lead(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    lead_id = new_id()
    dynamics.seed({"leads": [{"leadid": lead_id, "emailaddress1": "old@example.com", "firstname": "Ada",
                              "lastname": "Lovelace", "companyname": "Analytical Ltd"}]})
    config.set({"identifiers": {"lead": [["emailaddress1"], ["firstname", "lastname", "companyname"]],
                                "contact": [["emailaddress1"]]}})
    result = journey.ok("lead", body(unique_email()))
    assert (result["outcome"], result["recordId"]) == ("updated", lead_id)
    assert dynamics.record("leads", lead_id, "emailaddress1")["emailaddress1"] == "old@example.com"


def test_when_no_identifier_set_is_filled_each_missing_member_is_listed_and_nothing_is_sent(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    config.set({"identifiers": {"lead": [["firstname", "lastname"]], "contact": [["new_platformid"]]}})
    counter = Counter(dynamics)
    response = journey.post("lead", {"person": {"firstName": "Ada"}, "subject": "Webinar"})
    assert response.status_code == 400, response.text
    assert locs(response) == {("person", "lastName"), ("person", "fields", "new_platformid")}
    assert counter.total() == 0


def test_when_the_address_has_a_quote_it_matches_exactly(journey: Journey, dynamics: Dynamics) -> None:
    quoted, plain = new_id(), new_id()
    email = unique_email("o'brien")
    dynamics.seed({"leads": [{"leadid": quoted, "emailaddress1": email, "lastname": "O'Brien"},
                             {"leadid": plain, "emailaddress1": email.replace("'", ""), "lastname": "OBrien"}]})
    result = journey.ok("lead", body(email))
    assert (result["outcome"], result["recordId"], result["duplicates"]) == ("updated", quoted, 0)


def test_when_a_dry_run_is_asked_nothing_is_written(journey: Journey, dynamics: Dynamics) -> None:
    email = unique_email()
    counter = Counter(dynamics)
    result = journey.ok("lead", body(email, dryRun=True, idempotencyKey=new_id()))
    assert (result["outcome"], result["recordId"], result["dryRun"], result["dynamicsRequests"]) == (
        "created", None, True, 1)
    assert "would be created" in result["detail"]
    assert counter.writes() == {}
    assert dynamics.find("leads", emailaddress1=email) == []


def test_when_strings_hold_quotes_and_unicode_dynamics_stores_them_verbatim(
    journey: Journey, dynamics: Dynamics
) -> None:
    email = unique_email("zoë.o'neil")
    tricky = "Zoë \"Z\" O'Neil — 東京 & <b>50%</b> + #1?"
    result = journey.ok("lead", {
        "subject": tricky, "description": tricky + "\nline two",
        "person": {"email": email, "firstName": "Zoë 'Z'", "lastName": "O'Neil", "company": tricky,
                   "jobTitle": "Directør \"Ops\"", "phone": "+44 (0) 20 'x'"},
    })
    assert result["outcome"] == "created"
    lead = dynamics.record("leads", result["recordId"], LEAD_SELECT)
    assert (lead["subject"], lead["description"], lead["companyname"]) == (tricky, tricky + "\nline two", tricky)
    assert (lead["firstname"], lead["lastname"], lead["jobtitle"], lead["emailaddress1"]) == (
        "Zoë 'Z'", "O'Neil", "Directør \"Ops\"", email)
    again = journey.ok("lead", {"subject": "Second visit", "person": {"email": email.upper()}})
    assert (again["outcome"], again["recordId"]) == ("updated", result["recordId"])


def test_when_the_person_field_map_is_configured_the_lead_gets_those_columns(
    journey: Journey, dynamics: Dynamics, config: ConfigDocument
) -> None:
    config.set({"personFields": {"firstName": "firstname", "lastName": "lastname", "email": "emailaddress1",
                                 "company": "companyname", "jobTitle": None, "phone": "mobilephone"}})
    result = journey.ok("lead", body(unique_email()))
    lead = dynamics.record("leads", result["recordId"], "mobilephone,telephone1,jobtitle,companyname")
    assert (lead["mobilephone"], lead["telephone1"], lead["jobtitle"], lead["companyname"]) == (
        "+44 20 1234", None, None, "Analytical Ltd")
