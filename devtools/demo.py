"""`make demo`: start the local stack, walk a journey through the HTTP endpoints, show what
changed in Dynamics, stop.

The journey is a list of scenarios. A scenario is a function taking a `Demo` and using it to
call the function app (`demo.call`), fire a non-HTTP function (`demo.run_function`) and check
answers (`demo.expect`); every call becomes a row of the printed table. To add one, write it
below and decorate it with `@scenario("what it shows")`; scenarios run in file order, each
seeing what the previous ones wrote. After the journey, the records created, updated or
deleted in the Dataverse emulator (seeded with `devtools/demo_seed.json`) are printed.

    @scenario("A known lead is updated, not duplicated")
    def update_known_lead(demo: Demo) -> None:
        response = demo.call("POST", "journey/create-update-lead",
                             {"person": {"email": "o'brien@example.com"}, "subject": "Webinar"})
        demo.expect(response, 200, outcome="updated")

Exit status: 0 when every scenario got what it expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devtools import stack
from shared.masking import mask_address
from shared.store import StorageClients

SEED = stack.REPO_ROOT / "devtools" / "demo_seed.json"
DEMO_KEY = "demo-function-key"
DEMO_TOKEN = "local-dev-token"
TIMEOUT = 30

# Entity sets compared before and after the journey, with the columns that describe a record.
WATCHED: dict[str, tuple[str, ...]] = {
    "leads": ("fullname", "emailaddress1", "subject", "statecode"),
    "contacts": ("fullname", "emailaddress1", "statecode"),
    "accounts": ("name", "websiteurl"),
    "tasks": ("subject", "_regardingobjectid_value"),
    "phonecalls": ("subject", "phonenumber", "_regardingobjectid_value"),
    "lists": ("listname", "membercount"),
    "listmembers": ("_listid_value", "_entityid_value"),
}


class ScenarioFailed(AssertionError):
    """A response was not what the scenario expected."""


@dataclass
class Row:
    scenario: str
    request: str
    status: str
    result: str
    ok: bool


@dataclass
class Demo:
    """What a scenario gets: the running app, Dynamics, and the table being written."""

    functions_url: str
    function_key: str
    dataverse_url: str
    dataverse_token: str
    storage_connection: str = ""  # Azurite, for queue messages and claim-check blobs
    rows: list[Row] = field(default_factory=list)
    current: str = ""
    session: requests.Session = field(default_factory=requests.Session)
    _row_of: dict[int, Row] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        headers: dict[str, str] | None = None,
        key: bool = True,
    ) -> requests.Response:
        """Call `/api/<path>` on the function host (with the function key unless `key=False`)."""
        sent = dict(headers or {})
        if key:
            sent["x-functions-key"] = self.function_key
        response = self.session.request(method, f"{self.functions_url}/api/{path}", json=json, headers=sent,
                                        timeout=TIMEOUT)
        row = Row(self.current, f"{method} /api/{path}", str(response.status_code), _summary(response), True)
        self.rows.append(row)
        self._row_of[id(response)] = row
        return response

    def run_function(self, name: str, input: str = "") -> dict[str, Any]:
        """Run a queue or timer function now through the host's admin API; waits for it."""
        response = self.session.post(f"{self.functions_url}/admin/functions/{name}", params={"wait": "true"},
                                     json={"input": input}, headers={"x-functions-key": self.function_key},
                                     timeout=TIMEOUT * 10)
        outcome: dict[str, Any] = response.json() if response.ok else {"status": str(response.status_code)}
        self.rows.append(Row(self.current, f"run {name}", outcome.get("status", "?"),
                             outcome.get("error") or "", outcome.get("status") == "Succeeded"))
        return outcome

    def expect(self, response: requests.Response, status: int, **fields: Any) -> dict[str, Any]:
        """Check the status and top-level JSON fields of the last response; mark its row."""
        body: dict[str, Any] = {}
        try:
            parsed = response.json()
            body = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            pass
        wrong = [f"{name}={body.get(name)!r} (wanted {value!r})" for name, value in fields.items()
                 if body.get(name) != value]
        if response.status_code != status or wrong:
            if id(response) in self._row_of:
                self._row_of[id(response)].ok = False
            problems = ([f"status {response.status_code} (wanted {status})"] if response.status_code != status
                        else []) + wrong
            raise ScenarioFailed("; ".join(problems))
        return body

    def dataverse(self, entity_set: str) -> list[dict[str, Any]]:
        """Every record of an entity set in the emulator (all pages)."""
        url: str | None = f"{self.dataverse_url}/api/data/v9.2/{entity_set}"
        headers = {"Authorization": f"Bearer {self.dataverse_token}", "Accept": "application/json",
                   "OData-MaxVersion": "4.0", "OData-Version": "4.0", "Prefer": "odata.maxpagesize=500"}
        records: list[dict[str, Any]] = []
        while url:
            response = self.session.get(url, headers=headers, timeout=TIMEOUT)
            response.raise_for_status()
            page = response.json()
            records.extend(page.get("value", []))
            url = page.get("@odata.nextLink")
        return records


Scenario = Callable[[Demo], None]
SCENARIOS: list[tuple[str, Scenario]] = []


def scenario(title: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS.append((title, function))
        return function

    return register


def _summary(response: requests.Response, width: int = 70) -> str:
    try:
        body = response.json()
    except ValueError:
        return textwrap.shorten(response.text, width) if response.text else ""
    if not isinstance(body, dict):
        return textwrap.shorten(str(body), width)
    for keys in (("outcome", "reason", "detail"), ("status",), ("code", "detail"), ("title", "detail"),
                 ("platformName",)):
        picked = [f"{k}={body[k]}" for k in keys if body.get(k) not in (None, "")]
        if picked:
            replay = "replayed (idempotent), " if body.get("idempotent") is True else ""
            return textwrap.shorten(replay + ", ".join(picked), width)
    return textwrap.shorten(", ".join(sorted(body)), width)


# ---------------------------------------------------------------------------------------------
# The journey
# ---------------------------------------------------------------------------------------------


@scenario("The app is up")
def health(demo: Demo) -> None:
    demo.expect(demo.call("GET", "health", key=False), 200)


@scenario("Requests without the function key are refused")
def key_required(demo: Demo) -> None:
    demo.expect(demo.call("GET", "config", key=False), 401)


@scenario("Configuration: read, change with If-Match, stale ETag refused, unknown columns refused")
def configuration(demo: Demo) -> None:
    first = demo.call("GET", "config")
    document = demo.expect(first, 200)
    etag = first.headers.get("ETag", "")
    changed = {**document, "platformName": "Demo Platform"}
    demo.expect(demo.call("PUT", "config", changed), 428, code="ifMatchRequired")
    saved = demo.call("PUT", "config", changed, headers={"If-Match": etag})
    demo.expect(saved, 200, platformName="Demo Platform")
    demo.expect(demo.call("PUT", "config", changed, headers={"If-Match": etag}), 412, code="documentModified")
    # Every column is checked against Dynamics' metadata: nothing is saved when one does not fit.
    wrong = {**changed, "campaignMapping": {**changed["campaignMapping"], "opens": "new_campaignopens",
                                            "clicks": "new_nosuchcolumn"}}
    demo.expect(demo.call("PUT", "config", wrong, headers={"If-Match": saved.headers.get("ETag", "")}), 400)


# Records of devtools/demo_seed.json the journey refers to.
ADA_CONTACT = "c0000000-0000-4000-8000-000000000001"
GRACE_CONTACT = "c0000000-0000-4000-8000-000000000002"
ANALYTICAL_ACCOUNT = "ac000000-0000-4000-8000-000000000001"
CONTOSO_ACCOUNT = "ac000000-0000-4000-8000-000000000002"
OBRIEN_LEAD = "1ead0000-0000-4000-8000-000000000001"
GRACE_LEAD = "1ead0000-0000-4000-8000-000000000002"
ALAN_LEAD = "1ead0000-0000-4000-8000-000000000003"
KATHERINE_LEAD = "1ead0000-0000-4000-8000-000000000004"
DANA_USER = "5e000000-0000-4000-8000-000000000001"
FORMER_USER = "5e000000-0000-4000-8000-000000000002"
NEWSLETTER_LIST = "11570000-0000-4000-8000-000000000001"
DYNAMIC_LIST = "11570000-0000-4000-8000-000000000003"
LOCKED_LIST = "11570000-0000-4000-8000-000000000004"
INACTIVE_LIST = "11570000-0000-4000-8000-000000000005"

ADA = {"email": "ada@analytical.example.com", "firstName": "Ada", "lastName": "Lovelace"}
GRACE = {"email": "grace.hopper@contoso.example.com", "firstName": "Grace", "lastName": "Hopper"}
OBRIEN = {"email": "O'Brien@example.com", "firstName": "Seamus", "lastName": "O'Brien"}
ALAN = {"email": "alan.turing@example.org", "firstName": "Alan", "lastName": "Turing"}
CHARLES = {"email": "charles@analytical.example.com", "firstName": "Charles", "lastName": "Babbage"}
KATHERINE = {"email": "katherine.johnson@example.net", "firstName": "Katherine", "lastName": "Johnson"}

LEAD_STEP = "journey/create-update-lead"
ACTIVITY_STEP = "journey/add-activity"
LIST_STEP = "journey/add-to-marketing-list"
STEP_NAMES = {LEAD_STEP: "CreateUpdateLead", ACTIVITY_STEP: "AddActivity", LIST_STEP: "AddToMarketingList"}

# One row per journey-step call: step, person (masked e-mail), outcome, reason, record, round trips.
JOURNEY_ROWS: list[list[str]] = []
# What the journey must show: every outcome and reason code of the three steps (docs/STEPS.md).
JOURNEY_MUST_SHOW = {
    "created", "updated", "skipped", "activityLogged", "added", "alreadyMember",
    "existsAsContact", "noMatchingLead", "noMatchingContact", "noMatch",
    "listNotFound", "listIsDynamic", "listLocked", "listInactive", "listMemberTypeMismatch", "listNameAmbiguous",
    # The Owner rule's rules and reasons.
    "mapped", "defaultOwner", "dynamics", "unmapped", "userMissing", "userDisabled", "defaultOwnerUnavailable",
}


def journey_gaps() -> list[str]:
    """The outcomes, reason codes and owner rules no journey step showed."""
    shown = {row[2].split(" ")[0] for row in JOURNEY_ROWS} | {row[3] for row in JOURNEY_ROWS}
    shown |= {word.strip("()") for row in JOURNEY_ROWS for word in row[5].split()}
    return sorted(JOURNEY_MUST_SHOW - shown)


def _short_id(record_id: str | None) -> str:
    return f"{record_id[:8]}..{record_id[-4:]}" if record_id else "(none yet)"


def step(demo: Demo, path: str, body: dict[str, Any], status: int = 200, **fields: Any) -> dict[str, Any]:
    """Call a journey step, check the answer, and add a row to the journey table."""
    response = demo.call("POST", path, body)
    try:
        answer = demo.expect(response, status, **fields)
    finally:
        try:
            parsed = response.json()
        except ValueError:
            parsed = {}
        parsed = parsed if isinstance(parsed, dict) else {}
        outcome = str(parsed.get("outcome") or response.status_code)
        trips = str(parsed.get("dynamicsRequests", "-"))
        if parsed.get("idempotent"):
            outcome += " (replay)"
            trips = f"0 (first call: {trips})"  # a replay answers from storage
        if parsed.get("dryRun"):
            outcome += " (dry run)"
        record = ""
        if parsed.get("entity"):
            record = f"{parsed['entity']} {_short_id(parsed.get('recordId'))}"
        if parsed.get("activityId"):
            record += f", activity {_short_id(parsed['activityId'])}"
        owner = str(parsed.get("ownerRule") or "")
        if parsed.get("ownerReason"):
            owner += f" ({parsed['ownerReason']})"
        JOURNEY_ROWS.append([
            STEP_NAMES[path], mask_address(str(body.get("person", {}).get("email") or "-").strip()), outcome,
            str(parsed.get("reason") or parsed.get("code") or ""), record, owner, trips,
        ])
    return answer


@scenario("A new person becomes a Lead; the same idempotency key replays the answer")
def new_lead(demo: Demo) -> None:
    body = {"idempotencyKey": "demo-new-lead", "subject": "Started a trial",
            "person": {"email": "new.person@example.com", "firstName": "Nova", "lastName": "Person",
                       "company": "Newco"}}
    step(demo, LEAD_STEP, body, outcome="created", entity="lead", dynamicsRequests=2)
    step(demo, LEAD_STEP, body, outcome="created", idempotent=True)


@scenario("A known Lead (e-mail with an apostrophe, other case) is updated, not duplicated")
def known_lead(demo: Demo) -> None:
    body = {"subject": "Attended the webinar", "person": {**OBRIEN, "jobTitle": "CEO"}}
    step(demo, LEAD_STEP, body, outcome="updated", recordId=OBRIEN_LEAD)


@scenario("An existing Contact stops the Lead step")
def contact_stops_lead(demo: Demo) -> None:
    step(demo, LEAD_STEP, {"subject": "Pricing page again", "person": GRACE}, outcome="skipped",
         reason="existsAsContact", entity="contact", recordId=GRACE_CONTACT, dynamicsRequests=1)


@scenario("alwaysCreateLead: an unlinked Lead is updated and linked to the Contact and its Account")
def always_create_lead_update(demo: Demo) -> None:
    step(demo, LEAD_STEP, {"subject": "Asked for a quote", "alwaysCreateLead": True, "person": GRACE},
         outcome="updated", recordId=GRACE_LEAD, linkedContactId=GRACE_CONTACT, linkedAccountId=CONTOSO_ACCOUNT)


@scenario("alwaysCreateLead: a Contact without a Lead gets a new Lead linked to them and their Account")
def always_create_lead_create(demo: Demo) -> None:
    step(demo, LEAD_STEP, {"subject": "Upsell: analytics add-on", "alwaysCreateLead": True, "person": ADA},
         outcome="created", linkedContactId=ADA_CONTACT, linkedAccountId=ANALYTICAL_ACCOUNT)


@scenario("A qualified Lead is not a match: a new Lead is created")
def qualified_lead(demo: Demo) -> None:
    answer = step(demo, LEAD_STEP, {"subject": "Came back to the pricing page", "person": KATHERINE},
                  outcome="created")
    if answer.get("recordId") == KATHERINE_LEAD:
        raise ScenarioFailed("the qualified Lead was reused")


@scenario("A dry run says what would happen and writes nothing")
def dry_run(demo: Demo) -> None:
    body = {"subject": "Just looking", "dryRun": True, "person": {"email": "maybe@example.com"}}
    step(demo, LEAD_STEP, body, outcome="created", recordId=None, dryRun=True, dynamicsRequests=1)
    if any(lead.get("emailaddress1") == "maybe@example.com" for lead in demo.dataverse("leads")):
        raise ScenarioFailed("the dry run created a Lead")


MISSING_USER = "5e000000-0000-4000-8000-0000000000ff"


def _set_user_mapping(demo: Demo, user_mapping: dict[str, Any]) -> None:
    current = demo.call("GET", "config")
    document = demo.expect(current, 200)
    document["userMapping"] = user_mapping
    demo.expect(demo.call("PUT", "config", document, headers={"If-Match": current.headers.get("ETag", "")}), 200)


@scenario("The Owner rule: mapped user, default owner (and why), or Dynamics decides")
def owner_mapping(demo: Demo) -> None:
    identities = {"dana": DANA_USER, "former": FORMER_USER, "gone": MISSING_USER}
    _set_user_mapping(demo, {"identities": identities, "defaultOwner": DANA_USER})
    for owner_user, rule, reason, owner in [
        ("dana", "mapped", None, DANA_USER),
        ("former", "defaultOwner", "userDisabled", DANA_USER),
        ("gone", "defaultOwner", "userMissing", DANA_USER),
        (None, "defaultOwner", "unmapped", DANA_USER),
    ]:
        body: dict[str, Any] = {"subject": "Booked a meeting",
                                "person": {"email": f"owner.{owner_user or 'none'}@example.com", "lastName": "Owner"}}
        if owner_user:
            body["ownerUserId"] = owner_user
        answer = step(demo, LEAD_STEP, body, outcome="created", ownerRule=rule, ownerReason=reason)
        lead = next(row for row in demo.dataverse("leads") if row["leadid"] == answer["recordId"])
        if lead.get("_ownerid_value") != owner:
            raise ScenarioFailed(f"owner is {lead.get('_ownerid_value')}, wanted {owner}")
    # The default owner is disabled too: no ownerid is sent, Dynamics makes the app user the owner.
    _set_user_mapping(demo, {"identities": identities, "defaultOwner": FORMER_USER})
    step(demo, ACTIVITY_STEP, {"person": ALAN, "ownerUserId": "former", "activity": {"type": "task",
                               "subject": "Hand over to sales"}},
         outcome="activityLogged", ownerRule="dynamics", ownerReason="defaultOwnerUnavailable")
    _set_user_mapping(demo, {"identities": identities, "defaultOwner": DANA_USER})


@scenario("Activities: smart mode prefers the Lead and falls back to the Contact; strict modes skip")
def activities(demo: Demo) -> None:
    step(demo, ACTIVITY_STEP, {"person": OBRIEN, "activity": {"type": "task", "subject": "Send the case study",
                                                              "dueDate": "2026-06-01", "priority": "high"}},
         outcome="activityLogged", entity="lead", recordId=OBRIEN_LEAD, dynamicsRequests=2)
    # Alan is only a Lead: preferring a Contact falls back to his Lead (and his stored phone number).
    step(demo, ACTIVITY_STEP, {"person": ALAN, "prefer": "contact",
                               "activity": {"type": "phonecall", "subject": "Follow up on the trial",
                                            "dueInDays": 2}},
         outcome="activityLogged", entity="lead", recordId=ALAN_LEAD)
    step(demo, ACTIVITY_STEP, {"person": ALAN, "mode": "contact",
                               "activity": {"type": "task", "subject": "Invite to the user group"}},
         outcome="skipped", reason="noMatchingContact", dynamicsRequests=1)
    step(demo, ACTIVITY_STEP, {"person": CHARLES, "mode": "lead",
                               "activity": {"type": "task", "subject": "Call"}},
         outcome="skipped", reason="noMatchingLead")
    step(demo, ACTIVITY_STEP, {"person": {"email": "stranger@example.com"},
                               "activity": {"type": "task", "subject": "Call"}},
         outcome="skipped", reason="noMatch")
    step(demo, ACTIVITY_STEP, {"person": ALAN, "mode": "lead",
                               "activity": {"type": "phonecall", "subject": "Discuss the whitepaper",
                                            "direction": "incoming", "dueDate": "2026-06-02T10:00:00+01:00"}},
         outcome="activityLogged", entity="lead", recordId=ALAN_LEAD)


@scenario("A phone call without a number falls back to the Contact and takes the person's phone")
def phone_call(demo: Demo) -> None:
    body = {"person": {**ADA, "phone": "+44 20 7946 0101"}, "mode": "contact",
            "activity": {"type": "phonecall", "subject": "Check in after onboarding", "dueInDays": 7}}
    step(demo, ACTIVITY_STEP, body, outcome="activityLogged", entity="contact", recordId=ADA_CONTACT)


@scenario("Marketing lists: added, already a member, no matching record")
def marketing_lists(demo: Demo) -> None:
    step(demo, LIST_STEP, {"person": GRACE, "target": "contact", "list": {"id": NEWSLETTER_LIST}},
         outcome="added", recordId=GRACE_CONTACT, dynamicsRequests=2)
    step(demo, LIST_STEP, {"person": ADA, "target": "contact", "list": {"name": "Newsletter subscribers"}},
         outcome="alreadyMember", recordId=ADA_CONTACT, dynamicsRequests=1)
    step(demo, LIST_STEP, {"person": OBRIEN, "target": "lead", "list": {"name": "webinar ATTENDEES"}},
         outcome="added", entity="lead", recordId=OBRIEN_LEAD)
    step(demo, LIST_STEP, {"person": CHARLES, "target": "contact", "list": {"id": NEWSLETTER_LIST}},
         outcome="skipped", reason="noMatchingContact")
    step(demo, LIST_STEP, {"person": CHARLES, "target": "lead", "list": {"name": "Webinar attendees"}},
         outcome="skipped", reason="noMatchingLead")


@scenario("Marketing lists Dynamics cannot use are refused with a reason code")
def refused_lists(demo: Demo) -> None:
    for ref, target, code in [
        ({"id": DYNAMIC_LIST}, "contact", "listIsDynamic"),
        ({"id": LOCKED_LIST}, "contact", "listLocked"),
        ({"id": INACTIVE_LIST}, "contact", "listInactive"),
        ({"name": "Webinar attendees"}, "contact", "listMemberTypeMismatch"),
        ({"name": "Partners"}, "contact", "listNameAmbiguous"),
        ({"name": "No such list"}, "contact", "listNotFound"),
    ]:
        step(demo, LIST_STEP, {"person": ADA, "target": target, "list": ref}, 422, code=code)


BATCH_ROWS: list[list[str]] = []
WEBINAR_LIST = "11570000-0000-4000-8000-000000000002"
BATCH_PEOPLE = 100


@scenario("A claim-checked journey-steps batch: 300 steps in bulk, its summary and its round trips")
def journey_batch(demo: Demo) -> None:
    """100 new people: each becomes a Lead, gets a Task, and joins the webinar list (three waves)."""
    batch_id = "demo-batch-1"
    people = [{"email": f"batch.{n}@demo.example.com", "firstName": "Batch", "lastName": f"Person {n}"}
              for n in range(BATCH_PEOPLE)]
    steps: list[dict[str, Any]] = []
    for n, person in enumerate(people):
        steps.append({"stepId": f"lead-{n}", "type": "createUpdateLead", "person": person, "subject": "Webinar"})
    for n, person in enumerate(people):
        steps.append({"stepId": f"task-{n}", "type": "addActivity", "person": person,
                      "activity": {"type": "task", "subject": "Follow up the webinar"}})
    for n, person in enumerate(people):
        steps.append({"stepId": f"list-{n}", "type": "addToMarketingList", "person": person, "target": "lead",
                      "list": {"id": WEBINAR_LIST}})
    storage = StorageClients.from_connection_string(demo.storage_connection)
    # Over 64 KiB as a message: the producer puts the steps in a blob and sends a claim check.
    storage.container("journey-steps-blobs").upload_blob(f"{batch_id}.json", json.dumps(steps), overwrite=True)
    message = json.dumps({"batchId": batch_id, "stepsBlob": f"journey-steps-blobs/{batch_id}.json"})
    outcome = demo.run_function("JourneyBatch", message)
    if outcome.get("status") != "Succeeded":
        raise ScenarioFailed(f"JourneyBatch failed: {outcome.get('error')}")
    document = demo.expect(demo.call("GET", f"journey/batches/{batch_id}?top=3"), 200, total=3 * BATCH_PEOPLE,
                           failed=0)
    if document["status"] != "completed":
        raise ScenarioFailed(f"the batch is {document['status']}, not completed")
    summary = next((json.loads(m.content) for m in storage.queue("journey-results").peek_messages(max_messages=32)
                    if json.loads(m.content).get("batchId") == batch_id), None)
    if summary is None or summary["counts"] != document["counts"]:
        raise ScenarioFailed("no summary of the batch on journey-results")
    requests_made = document["dynamicsRequests"]
    for name, count in document["counts"].items():
        if count:
            BATCH_ROWS.append([batch_id, name, str(count), ""])
    BATCH_ROWS.append([batch_id, "Web API requests", str(requests_made),
                       f"{requests_made / document['total']:.3f} per step (one by one: 2 per step)"])
    BATCH_ROWS.append([batch_id, "summary on journey-results", summary["status"], json.dumps(summary["counts"])])


EXPORT_ROWS: list[list[str]] = []
EXPORT_COLUMNS = ("new_source", "new_segment", "new_engaged", "new_sequence", "new_status", "new_opens", "new_clicks",
                  "new_replyanalysis", "new_tier")
LONG_REPLY = ("Replied twice: asked for a quote for 40 seats, a security review and a pilot in the London "
              "office before the end of the quarter.")


@scenario("A campaign export: companies first (one matched only by domain), contacts linked, engagement for "
          "participants, an analysis cut to fit")
def campaign_export(demo: Demo) -> None:
    current = demo.call("GET", "config")
    document = demo.expect(current, 200)
    document["exportMapping"] = {
        "fixedFields": {"contact": {"new_source": "Demo Platform"}, "account": {}},
        "exportFields": {"contact": ["new_segment"], "account": ["new_tier"]},
        "engagementFields": {"contact": {"new_engaged": "Yes"}, "account": {"new_engaged": "Yes"}},
    }
    document["campaignMapping"] = {"sequenceDetails": "new_sequence", "engagementStatus": "new_status",
                                   "opens": "new_opens", "clicks": "new_clicks", "openAnalysis": None,
                                   "clickAnalysis": None, "replyAnalysis": "new_replyanalysis"}
    document["userMapping"] = {"identities": {"dana": DANA_USER, "former": FORMER_USER}, "defaultOwner": DANA_USER}
    demo.expect(demo.call("PUT", "config", document, headers={"If-Match": current.headers.get("ETag", "")}), 200)
    export_id = "demo-export-1"
    engaged = {"participated": True, "status": "Step 3 of 5", "opens": 4, "clicks": 2}
    message = {
        "exportId": export_id, "campaign": {"id": "c-17", "name": "Spring", "sequence": "5 e-mails over 3 weeks"},
        "companies": [
            # The seeded Account is "Analytical Engines Ltd" at https://www.analytical.example.com: the
            # name differs, the domain finds it.
            {"name": "Analytical Engines", "domain": "analytical.example.com", "exportFields": {"new_tier": "Gold"}},
            {"name": "Babbage Works", "domain": "https://babbage.example/", "exportFields": {"new_tier": "Silver"}},
        ],
        "contacts": [
            {"person": {**ADA, "id": "p-ada", "company": "Analytical Engines"}, "ownerUserId": "dana",
             "exportFields": {"new_segment": "Enterprise"}, "engagement": {**engaged, "replyAnalysis": LONG_REPLY}},
            {"person": {**CHARLES, "id": "p-charles", "company": "Analytical Engines"}, "ownerUserId": "dana",
             "engagement": {"participated": False, "status": "Step 1 of 5"}},
            {"person": {"email": "mary.somerville@babbage.example", "firstName": "Mary", "lastName": "Somerville",
                        "id": "p-mary", "company": "Babbage Works"}, "ownerUserId": "former",
             "engagement": {**engaged, "opens": 1, "clicks": 0}},
            {"person": {"email": "no.company@example.org", "firstName": "Nora", "lastName": "Nocompany",
                        "id": "p-nora"}, "exportFields": {"new_unlisted": "x"}},
        ],
    }
    outcome = demo.run_function("CampaignExport", json.dumps(message))
    if outcome.get("status") != "Succeeded":
        raise ScenarioFailed(f"CampaignExport failed: {outcome.get('error')}")
    result = demo.expect(demo.call("GET", f"campaign-exports/{export_id}"), 200, failed=1)
    if result["status"] != "completed":
        raise ScenarioFailed(f"the export is {result['status']}, not completed")
    expected = [("account", "updated"), ("account", "created"), ("contact", "updated"), ("contact", "created"),
                ("contact", "created"), ("contact", "failed")]
    entries = result["companies"] + result["contacts"]
    if [(e["entity"], e["outcome"]) for e in entries] != expected:
        raise ScenarioFailed(f"outcomes {[(e['entity'], e['outcome']) for e in entries]}, wanted {expected}")
    if result["contacts"][0]["truncated"] != ["new_replyanalysis"]:
        raise ScenarioFailed("the long reply analysis was not reported as cut")
    records = {**{r["accountid"]: r for r in demo.dataverse("accounts")},
               **{r["contactid"]: r for r in demo.dataverse("contacts")}}
    for entry in entries:
        who = entry.get("name") or mask_address(str(entry.get("email") or ""))
        stored = records.get(str(entry.get("recordId")), {})
        written = ", ".join(f"{column}={_shorten(str(stored[column]))}" for column in EXPORT_COLUMNS
                            if stored.get(column) is not None)
        if entry.get("linkedAccountId"):
            written += f", Account {_short_id(entry['linkedAccountId'])}"
        if entry["outcome"] == "failed":
            written = "; ".join(f"{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in entry["error"]["errors"])
        owner = str(entry.get("ownerRule") or "-") + (f" ({entry['ownerReason']})" if entry.get("ownerReason") else "")
        EXPORT_ROWS.append([entry["entity"], who, entry["outcome"], written or "-", owner,
                            ", ".join(entry["truncated"]) or "-"])
    EXPORT_ROWS.append(["", "Web API requests", str(result["dynamicsRequests"]), f"for {len(entries)} records",
                        "", ""])


def _shorten(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------------------------------------
# The scheduled sync
# ---------------------------------------------------------------------------------------------

HEDY = {"id": "pc-hedy", "email": "hedy.lamarr@example.com", "firstName": "Hedy", "lastName": "Lamarr"}
SYNC_TAGS = ["D365: Lead", "D365: Pulled from Demo Platform"]


def sync_run(demo: Demo) -> dict[str, Any]:
    """POST /api/sync/run, then wait for the host's SyncRunWorker to end the run."""
    queued = demo.expect(demo.call("POST", "sync/run"), 202)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = demo.session.get(f"{demo.functions_url}/api/sync/runs/{queued['runId']}",
                                    headers={"x-functions-key": demo.function_key}, timeout=TIMEOUT)
        run: dict[str, Any] = response.json()
        if run.get("status") not in ("queued", "running"):
            counts = ", ".join(f"{k}={v}" for k, v in run["counts"].items() if v)
            demo.rows.append(Row(demo.current, "sync run (SyncRunWorker)", run["status"], counts,
                                 run["status"] == "succeeded"))
            if run["status"] != "succeeded":
                raise ScenarioFailed(f"the sync run ended {run['status']}: {run.get('firstErrors')}")
            return run
        time.sleep(0.5)
    raise ScenarioFailed("the sync run did not end within 120 s")


def dataverse_call(demo: Demo, method: str, path: str, body: dict[str, Any]) -> None:
    response = demo.session.request(method, f"{demo.dataverse_url}/api/data/v9.2/{path}", json=body,
                                    headers={"Authorization": f"Bearer {demo.dataverse_token}"}, timeout=TIMEOUT)
    demo.rows.append(Row(demo.current, f"Dynamics: {method} {path.split('?')[0]}", str(response.status_code), "",
                         response.ok))
    if not response.ok:
        raise ScenarioFailed(f"Dynamics answered {response.status_code} to {method} {path}")


@scenario("Sync: Leads pulled to the platform with their tags; an enqueued contact created in Dynamics")
def sync_first_run(demo: Demo) -> None:
    current = demo.call("GET", "sync/settings")
    document = demo.expect(current, 200)
    document["dataConfiguration"]["lead"] = {"enabled": True, "criteria": []}
    demo.expect(demo.call("PUT", "sync/settings", document, headers={"If-Match": current.headers["ETag"]}), 200)
    demo.expect(demo.call("POST", "sync/enqueue", {"person": HEDY, "as": "lead"}), 202, tags=SYNC_TAGS)
    run = sync_run(demo)
    if run["counts"]["created"] != 1 or run["initialSync"] != ["lead"] or not run["counts"]["pulled"]:
        raise ScenarioFailed(f"the first run should create Hedy and pull the Leads: {run['counts']}")
    links = demo.expect(demo.call("GET", "sync/links/pc-hedy"), 200)
    if [link["entity"] for link in links["links"]] != ["lead"]:
        raise ScenarioFailed("Hedy's contact is not linked to her new Lead")


@scenario("Sync: a platform change is pushed; a field changed on both sides follows conflictPolicy")
def sync_changes(demo: Demo) -> None:
    change = {"person": {"id": "pc-hedy", "jobTitle": "Inventor", "firstName": "Hedwig"},
              "updatedAt": "2026-05-01T10:00:00Z", "tags": SYNC_TAGS}
    demo.expect(demo.call("POST", "sync/changes", {"changes": [change]}), 202, accepted=1)
    run = sync_run(demo)
    if run["counts"]["pushed"] != 1:
        raise ScenarioFailed(f"the change was not pushed: {run['counts']}")
    lead_id = demo.expect(demo.call("GET", "sync/links/pc-hedy"), 200)["links"][0]["dynamicsId"]
    dataverse_call(demo, "PATCH", f"leads({lead_id})", {"firstname": "Hedy K."})
    change = {"person": {"id": "pc-hedy", "firstName": "H."}, "updatedAt": "2026-05-01T11:00:00Z", "tags": SYNC_TAGS}
    demo.expect(demo.call("POST", "sync/changes", {"changes": [change]}), 202, accepted=1)
    run = sync_run(demo)
    if run["conflicts"] != [{"entity": "lead", "dynamicsId": lead_id, "platformContactId": "pc-hedy",
                             "field": "firstName", "winner": "dynamics"}]:
        raise ScenarioFailed(f"the conflict was not reported: {run['conflicts']}")


@scenario("Sync: a merge in Dynamics is reported naming the survivor")
def sync_merge(demo: Demo) -> None:
    merge = {"Target": {"@odata.type": "Microsoft.Dynamics.CRM.lead", "leadid": OBRIEN_LEAD},
             "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.lead", "leadid": ALAN_LEAD},
             "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.lead"}, "PerformParentingChecks": False}
    dataverse_call(demo, "POST", "Merge", merge)
    run = sync_run(demo)
    if run["counts"]["merged"] != 1:
        raise ScenarioFailed(f"the merge was not reported: {run['counts']}")


SYNC_RUNS: list[list[str]] = []


@scenario("Sync: the run history")
def sync_history(demo: Demo) -> None:
    runs = demo.expect(demo.call("GET", "sync/runs", None), 200)["runs"]
    for run in reversed(runs):
        counts = ", ".join(f"{k}={v}" for k, v in run["counts"].items() if v) or "-"
        SYNC_RUNS.append([run["trigger"], run["status"], ",".join(run["initialSync"]) or "-", counts,
                          str(run["dynamicsRequests"]), str(len(run["conflicts"]))])


# ---------------------------------------------------------------------------------------------
# Running and printing
# ---------------------------------------------------------------------------------------------


def snapshot(demo: Demo) -> dict[str, dict[str, dict[str, Any]]]:
    """entity set -> record id -> record, for the watched sets the emulator knows."""
    state: dict[str, dict[str, dict[str, Any]]] = {}
    for entity_set in WATCHED:
        try:
            records = demo.dataverse(entity_set)
        except requests.RequestException:
            continue
        state[entity_set] = {_record_id(entity_set, record): record for record in records}
    return state


def _record_id(entity_set: str, record: dict[str, Any]) -> str:
    for name in (f"{entity_set[:-1]}id", "activityid", "listmemberid"):
        if record.get(name):
            return str(record[name])
    return str(next((v for k, v in record.items() if k.endswith("id") and isinstance(v, str)), "?"))


# Columns Dataverse changes on every write; they say nothing about what the journey did.
_BOOKKEEPING = {"modifiedon", "versionnumber", "@odata.etag", "_modifiedby_value", "membercount"}


def changes(before: dict[str, dict[str, dict[str, Any]]], after: dict[str, dict[str, dict[str, Any]]]) -> list[list[str]]:
    """One row per record created, updated or deleted: entity set, change, id, what."""
    rows = []
    for entity_set, now in after.items():
        was = before.get(entity_set, {})
        columns = WATCHED[entity_set]
        for record_id, record in now.items():
            if record_id not in was:
                rows.append([entity_set, "created", record_id, _describe(record, columns)])
                continue
            changed = sorted(
                name for name in set(record) | set(was[record_id])
                if name not in _BOOKKEEPING and "@" not in name and record.get(name) != was[record_id].get(name)
            )
            if changed:
                label = _describe(record, columns[:1])
                what = ", ".join(f"{name}={_short(record.get(name))}" for name in changed)
                rows.append([entity_set, "updated", record_id, textwrap.shorten(f"{label}: {what}", 110)])
        for record_id, record in was.items():
            if record_id not in now:
                rows.append([entity_set, "deleted", record_id, _describe(record, columns)])
    return _collapsed(rows)


def _collapsed(rows: list[list[str]], keep: int = 5) -> list[list[str]]:
    """At most `keep` rows per (entity set, change), then one row counting the rest (a batch
    creates hundreds of records)."""
    out: list[list[str]] = []
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row[0], row[1])
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= keep:
            out.append(row)
    for (entity_set, change), count in seen.items():
        if count > keep:
            out.append([entity_set, change, "", f"... and {count - keep} more"])
    return out


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(record: dict[str, Any], columns: Iterable[str]) -> str:
    return textwrap.shorten(
        ", ".join(f"{c}={_short(record[c])}" for c in columns if record.get(c) not in (None, "")), 110)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * width for width in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def journey_rows(rows: Sequence[Row]) -> list[list[str]]:
    """The journey table: a scenario's title on its first row only."""
    out, previous = [], None
    for row in rows:
        out.append(["ok" if row.ok else "FAIL", row.scenario if row.scenario != previous else "", row.request,
                    row.status, row.result])
        previous = row.scenario
    return out


def run_journey(demo: Demo, scenarios: Sequence[tuple[str, Scenario]]) -> list[tuple[str, str]]:
    """Run every scenario; returns (title, why) for each one that failed."""
    failures = []
    for title, function in scenarios:
        demo.current = title
        try:
            function(demo)
        except ScenarioFailed as exc:
            failures.append((title, str(exc)))
        except Exception as exc:
            failures.append((title, f"{type(exc).__name__}: {exc}"))
            traceback.print_exc()
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--functions-port", type=int, default=None, help="default: a free port")
    parser.add_argument("--emulator-port", type=int, default=None, help="default: a free port")
    args = parser.parse_args(argv)

    log_dir = Path(tempfile.mkdtemp(prefix="demo-logs-"))
    print("Starting Azurite, the Dataverse emulator (seeded with demo_seed.json) and the function host ...")
    local = stack.start_local_stack(
        log_dir, functions_port=args.functions_port, emulator_port=args.emulator_port, seed=SEED,
        token=DEMO_TOKEN, env={"LOCAL_FUNCTION_KEY": DEMO_KEY}, isolate=True,
    )
    try:
        demo = Demo(local.functions.url, DEMO_KEY, local.emulator.url, DEMO_TOKEN,
                    storage_connection=local.azurite.env["AzureWebJobsStorage"])
        before = snapshot(demo)
        failures = run_journey(demo, SCENARIOS)
        if journey_gaps():
            failures.append(("Journey steps", "no step showed " + ", ".join(journey_gaps())))
        after = snapshot(demo)
    finally:
        local.stop()

    print("\nWhat the journey did\n")
    print(table(["", "Scenario", "Request", "Status", "Result"], journey_rows(demo.rows)))
    if JOURNEY_ROWS:
        print("\nJourney steps\n")
        print(table(["Step", "Person", "Outcome", "Reason", "Record", "Owner rule", "Round trips"], JOURNEY_ROWS))
    if BATCH_ROWS:
        print("\nJourney batch (queue journey-steps)\n")
        print(table(["Batch", "What", "Count", "Note"], BATCH_ROWS))
    if EXPORT_ROWS:
        print("\nCampaign export (queue campaign-export), per record\n")
        print(table(["Entity", "Record", "Outcome", "Written", "Owner rule", "Cut"], EXPORT_ROWS))
    if SYNC_RUNS:
        print("\nSync runs (GET /api/sync/runs, oldest first)\n")
        print(table(["Trigger", "Status", "Initial sync", "Counts", "Web API requests", "Conflicts"], SYNC_RUNS))
    print("\nWhat changed in Dynamics\n")
    changed = changes(before, after)
    print(table(["Entity set", "Change", "Id", "Record"], changed) if changed else "(nothing)")
    if failures:
        print(f"\n{len(failures)} of {len(SCENARIOS)} scenarios failed:", file=sys.stderr)
        for title, why in failures:
            print(f"  - {title}: {why}", file=sys.stderr)
        print(f"Logs: {log_dir}", file=sys.stderr)
        return 1
    print(f"\nAll {len(SCENARIOS)} scenarios passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
