"""CampaignExport end to end: messages through a local host, results over HTTP, real Azurite and
the Dataverse emulator (with the export's custom columns seeded)."""

from __future__ import annotations

from typing import Any

from tests.functions.export_helpers import (
    DEFAULT_OWNER,
    MAPPED_USER,
    REPLY_MAX,
    Exports,
)
from tests.functions.journey_helpers import Dynamics, new_id, unique_email

pytest_plugins = ["tests.functions.journey_fixtures", "tests.functions.export_fixtures"]

CONTACT_SELECT = ("firstname,lastname,emailaddress1,new_source,new_segment,new_engaged,new_sequence,new_status,"
                  "new_opens,new_clicks,new_replyanalysis,_parentcustomerid_value,_ownerid_value")


def _contact(email: str, company: str | None = None, **more: Any) -> dict[str, Any]:
    person = {"id": f"p-{email}", "email": email, "firstName": "Ada", "lastName": "Lovelace"}
    if company:
        person["company"] = company
    return {"person": person, **more}


def _engaged(**more: Any) -> dict[str, Any]:
    return {"participated": True, "status": "Step 3 of 5", "opens": 2, "clicks": 1, **more}


def _message(export_id: str, contacts: list[dict[str, Any]], companies: list[dict[str, Any]] | None = None,
             ) -> dict[str, Any]:
    return {"exportId": export_id, "campaign": {"id": "c-17", "name": "Spring", "sequence": "5 e-mails"},
            "contacts": contacts, "companies": companies or []}


def test_companies_and_contacts_are_created_linked_owned_and_cut_as_the_mapping_says(
    exports: Exports, columns: Dynamics, export_config: Any
) -> None:
    export_id, company = f"e-{new_id()}", f"Analytical {new_id()[:8]}"
    ada, bob = unique_email("ada"), unique_email("bob")
    long_reply = "Replied: " + "x" * 100
    document = exports.run(_message(export_id, [
        _contact(ada, company, ownerUserId="u-9", exportFields={"new_segment": "Enterprise"},
                 engagement=_engaged(replyAnalysis=long_reply)),
        _contact(bob, company.upper(), ownerUserId="u-off", engagement={"participated": False, "status": "Step 1"}),
    ], [{"name": company, "domain": "https://www.analytical.example/", "exportFields": {"new_tier": "Gold"}}]))
    assert document["status"] == "completed"
    assert document["total"] == {"companies": 1, "contacts": 2}
    assert document["counts"] == {"created": 3, "updated": 0} and document["failed"] == 0
    account = document["companies"][0]
    assert (account["entity"], account["name"], account["outcome"]) == ("account", company, "created")
    assert (account["ownerRule"], account["ownerReason"]) == ("mapped", None)  # its first contact's user
    first, second = document["contacts"]
    assert first["linkedAccountId"] == second["linkedAccountId"] == account["recordId"]
    assert (first["ownerRule"], first["ownerReason"]) == ("mapped", None)
    assert (second["ownerRule"], second["ownerReason"]) == ("defaultOwner", "userDisabled")
    assert first["truncated"] == ["new_replyanalysis"] and second["truncated"] == []
    assert (first["personId"], first["email"]) == (f"p-{ada}", ada)
    stored = columns.record("accounts", account["recordId"], "name,websiteurl,new_tier,new_engaged,_ownerid_value")
    assert (stored["name"], stored["websiteurl"], stored["new_tier"]) == (company, "https://www.analytical.example/",
                                                                          "Gold")
    assert stored["new_engaged"] == "Yes"  # a contact of it participated
    assert stored["_ownerid_value"] == MAPPED_USER
    ada_row = columns.record("contacts", first["recordId"], CONTACT_SELECT)
    assert ada_row["new_source"] == "Platform" and ada_row["new_segment"] == "Enterprise"
    assert (ada_row["new_engaged"], ada_row["new_sequence"], ada_row["new_status"]) == ("Yes", "5 e-mails",
                                                                                        "Step 3 of 5")
    assert (ada_row["new_opens"], ada_row["new_clicks"]) == ("2", "1")
    assert ada_row["new_replyanalysis"] == long_reply[: REPLY_MAX - 1] + "\u2026"
    assert ada_row["_parentcustomerid_value"] == account["recordId"]
    bob_row = columns.record("contacts", second["recordId"], CONTACT_SELECT)
    assert bob_row["new_source"] == "Platform"
    assert bob_row["new_engaged"] is None and bob_row["new_status"] is None  # not a participant
    assert bob_row["_ownerid_value"] == DEFAULT_OWNER
    assert exports.summaries(export_id)[-1] == {"exportId": export_id, "status": "completed",
                                                "total": {"companies": 1, "contacts": 2},
                                                "counts": {"created": 3, "updated": 0}, "failed": 0}
