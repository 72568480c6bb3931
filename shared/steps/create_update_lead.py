"""Create/Update Lead (`POST /api/journey/create-update-lead`, docs/STEPS.md).

`prepare` (pure) says what to look up, `decide` (pure) turns what was found into a `Plan`;
`shared.steps.runner` does the look-ups in one round trip and the plan's one write.

Default mode: a matching Contact stops the step; otherwise the matching open Lead is updated
or a Lead is created. "Always create a lead": no Contact check; the Lead is updated or created,
and a new Lead (or an updated one without a parent Contact) is linked to the matching Contact
and that Contact's Account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.dynamics.query import Expand, bind
from shared.owner import OwnerDecision
from shared.person_keys import PersonKey, person_keys
from shared.resolution import Match, person_attributes
from shared.steps.config import StepConfig
from shared.steps.lookups import Found, Lookups, person_lookup
from shared.steps.models import LeadRequest
from shared.steps.person import check_person
from shared.steps.result import Attempt, Create, Plan, StepResult, Update
from shared.steps.wording import duplicates_note, possessive, was, who

__all__ = ["ID_NAMESPACE", "SCOPE", "contact_account", "decide", "lock_keys", "prepare"]

SCOPE = "CreateUpdateLead"
ID_NAMESPACE = "lead"

# The Contact's customer, when it is an Account: expanded through the account-typed navigation
# property of the polymorphic `parentcustomerid` lookup (null when the customer is a Contact).
_CONTACT_ACCOUNT = Expand("parentcustomerid_account", select=["accountid"])


def prepare(request: LeadRequest, config: StepConfig) -> Lookups:
    """The person as Lead and as Contact, and the owner candidates; `InvalidStepInput` when the
    person cannot be identified."""
    values = check_person(request.person, config, ["lead", "contact"])
    lead_select = ["_parentcontactid_value", "_parentaccountid_value"]
    if config.email_attribute:
        lead_select.append(config.email_attribute)
    return Lookups(
        people=(
            person_lookup("lead", config, values, select=lead_select),
            person_lookup("contact", config, values, expand=[_CONTACT_ACCOUNT]),
        ),
        owner=config.owner_candidates(request.owner_user_id),
    )


def lock_keys(request: LeadRequest, config: StepConfig) -> tuple[PersonKey, ...]:
    """The person's keys in the Lead table (one per lead identifier set they fill): a second step
    for the same person waits until this one's Lead exists, then updates it."""
    person = request.person
    values = person_attributes(person.platform_values(), config.person_fields, person.fields)
    return person_keys("lead", config.lead_identifiers, values)


def contact_account(contact: Mapping[str, Any]) -> str | None:
    """The id of the Contact's Account (its `parentcustomerid` when that is an Account)."""
    expanded = contact.get("parentcustomerid_account")
    if isinstance(expanded, Mapping) and expanded.get("accountid"):
        return str(expanded["accountid"]).lower()
    return None


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None


def _person_data(request: LeadRequest, config: StepConfig) -> dict[str, Any]:
    data: dict[str, Any] = {"subject": request.subject}
    if request.description is not None:
        data["description"] = request.description
    platform = request.person.platform_values()
    for name, attribute in config.person_fields.items():
        if attribute and name in platform:
            data[attribute] = platform[name]
    data.update(request.person.fields)
    return data


def _link_phrase(contact_id: str | None, account_id: str | None, *, dry_run: bool) -> str:
    linked = "linked" if dry_run else "linked it"
    if contact_id and account_id:
        return f" and {linked} to their existing Contact and that Contact's Account"
    if contact_id:
        return f" and {linked} to their existing Contact"
    return ""


def decide(
    request: LeadRequest,
    config: StepConfig,
    lookups: Lookups,
    found: Found,
    attempt: Attempt | None = None,
) -> Plan:
    """The plan for `request` given the rows found."""
    attempt = attempt or Attempt()
    dry_run, new_id = attempt.dry_run, attempt.record_id
    name = who(request.person)
    contact = lookups.match("contact", found)
    lead = lookups.match("lead", found)

    # The first attempt with this idempotency key created this Lead and died before answering:
    # its decision stands, whatever changed since (even a Contact created in between).
    earlier = lead.candidate(new_id) if lead is not None and new_id is not None else None
    if lead is not None and earlier is not None:
        # Its owner was decided by the same rule over the same users, looked up again now.
        return _created_by_earlier_attempt(lead, earlier, name, dry_run, lookups.owner_decision(found))

    if contact is not None and not request.always_create_lead:
        detail = (f"{name} is already a Contact in Dynamics, so no Lead {was(dry_run)} created or updated"
                  f"{duplicates_note(contact)}.")
        return Plan(
            StepResult(
                outcome="skipped", reason="existsAsContact", entity="contact", record_id=contact.record_id,
                duplicates=contact.duplicates, detail=detail, dry_run=dry_run,
            )
        )

    # Links apply in "always create a lead" mode only: in the default mode a Contact stops the step.
    link_contact = contact if request.always_create_lead else None
    data = _person_data(request, config)

    if lead is not None:
        return _update(config, lead, link_contact, data, name, dry_run)

    contact_id = link_contact.record_id if link_contact else None
    account_id = contact_account(link_contact.record) if link_contact else None
    if contact_id:
        data["parentcontactid@odata.bind"] = bind("contacts", contact_id)
    if account_id:
        data["parentaccountid@odata.bind"] = bind("accounts", account_id)
    owner = lookups.owner_decision(found)
    data.update(owner.bind())
    links = _link_phrase(contact_id, account_id, dry_run=dry_run)
    if dry_run:
        detail = f"A new Lead would be created for {name}{links}; nothing was written."
    else:
        detail = f"Created a new Lead for {name}{links}."
    return Plan(
        StepResult(
            outcome="created", entity="lead", record_id=None, linked_contact_id=contact_id,
            linked_account_id=account_id, detail=detail, dry_run=dry_run, **StepResult.owned(owner),
        ),
        write=Create("leads", data, record_id=new_id),
    )


def _update(
    config: StepConfig, lead: Match, link_contact: Match | None, data: dict[str, Any], name: str, dry_run: bool,
) -> Plan:
    record = lead.record
    email_attribute = config.email_attribute
    # An update never rewrites the stored address; it only fills one in where there is none.
    if email_attribute and record.get(email_attribute):
        data.pop(email_attribute, None)
    contact_id = _lower(record.get("_parentcontactid_value"))
    account_id = _lower(record.get("_parentaccountid_value"))
    linked_now = ""
    if link_contact is not None and contact_id is None:
        contact_id = link_contact.record_id
        data["parentcontactid@odata.bind"] = bind("contacts", contact_id)
        new_account = contact_account(link_contact.record)
        # A Lead's own Account choice is kept; the Contact's Account only fills an empty one.
        if new_account and account_id is None:
            account_id = new_account
            data["parentaccountid@odata.bind"] = bind("accounts", account_id)
            linked_now = _link_phrase(contact_id, account_id, dry_run=dry_run)
        else:
            linked_now = _link_phrase(contact_id, None, dry_run=dry_run)
    subject = possessive(name)
    if dry_run:
        detail = f"{subject} open Lead would be updated{linked_now}{duplicates_note(lead)}; nothing was written."
    else:
        detail = f"Updated {subject} open Lead{linked_now}{duplicates_note(lead)}."
    return Plan(
        StepResult(
            outcome="updated", entity="lead", record_id=lead.record_id, linked_contact_id=contact_id,
            linked_account_id=account_id, duplicates=lead.duplicates, detail=detail, dry_run=dry_run,
        ),
        write=Update("leads", lead.record_id, data),
    )


def _created_by_earlier_attempt(
    lead: Match, record: Mapping[str, Any], name: str, dry_run: bool, owner: OwnerDecision
) -> Plan:
    """An earlier attempt with the same idempotency key created this Lead, then did not answer."""
    return Plan(
        StepResult(
            outcome="created", entity="lead", record_id=str(record["leadid"]).lower(),
            linked_contact_id=_lower(record.get("_parentcontactid_value")),
            linked_account_id=_lower(record.get("_parentaccountid_value")),
            duplicates=lead.duplicates,
            detail=f"Created a new Lead for {name} (an earlier attempt with this idempotency key created it).",
            dry_run=dry_run, **StepResult.owned(owner),
        )
    )
