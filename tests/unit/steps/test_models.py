"""Request models of the journey steps: what is accepted, and every reason a body is refused."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shared.steps.models import ActivityRequest, LeadRequest, ListRequest


def errors(model: type[BaseModel], body: Any) -> dict[tuple[Any, ...], str]:
    """{loc: msg} of every error, validated as the HTTP layer does (JSON mode)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(body))
    return {tuple(e["loc"]): e["msg"] for e in caught.value.errors()}


def lead_body(**changes: Any) -> dict[str, Any]:
    return {"person": {"email": "ada@example.com"}, "subject": "Webinar attendee", **changes}


def activity_body(**activity: Any) -> dict[str, Any]:
    return {"person": {"email": "ada@example.com"}, "activity": {"type": "task", "subject": "Call", **activity}}


def test_when_a_minimal_lead_body_is_sent_defaults_apply() -> None:
    request = LeadRequest.model_validate_json(json.dumps(lead_body()))
    assert request.always_create_lead is False
    assert request.dry_run is False
    assert request.idempotency_key is None
    assert request.description is None
    assert request.person.fields == {}


def test_when_strings_have_spaces_they_are_trimmed_and_blanks_mean_not_given() -> None:
    body = lead_body(person={"email": "  Ada@Example.COM ", "firstName": "  Ada ", "lastName": "   "},
                     subject="  Topic  ", description="  ")
    request = LeadRequest.model_validate_json(json.dumps(body))
    assert request.person.email == "Ada@Example.COM"  # trimmed, case as given, not normalised
    assert request.person.first_name == "Ada"
    assert request.person.last_name is None
    assert request.subject == "Topic"
    assert request.description is None


def test_when_the_subject_is_missing_or_blank_it_is_refused() -> None:
    assert list(errors(LeadRequest, {"person": {"email": "a@example.com"}})) == [("subject",)]
    assert list(errors(LeadRequest, lead_body(subject="   "))) == [("subject",)]
    assert list(errors(LeadRequest, lead_body(subject=""))) == [("subject",)]


def test_when_strings_exceed_dataverse_lengths_every_field_is_listed() -> None:
    body = lead_body(
        subject="s" * 301,
        description="d" * 2001,
        person={"email": "a" * 90 + "@example.com", "firstName": "f" * 51, "lastName": "l" * 51,
                "company": "c" * 101, "jobTitle": "j" * 101, "phone": "1" * 51},
        idempotencyKey="k" * 201,
    )
    found = errors(LeadRequest, body)
    assert set(found) == {
        ("subject",), ("description",), ("person", "email"), ("person", "firstName"), ("person", "lastName"),
        ("person", "company"), ("person", "jobTitle"), ("person", "phone"), ("idempotencyKey",),
    }


def test_when_strings_are_at_the_limit_they_are_accepted() -> None:
    body = lead_body(subject="s" * 300, person={"email": "a" * 88 + "@example.com", "firstName": "f" * 50},
                     idempotencyKey="k" * 200)
    request = LeadRequest.model_validate_json(json.dumps(body))
    assert len(request.subject) == 300


def test_when_characters_need_two_utf16_units_they_count_twice() -> None:
    assert ("person", "firstName") in errors(LeadRequest, lead_body(person={"email": "a@example.com",
                                                                            "firstName": "😀" * 26}))
    request = LeadRequest.model_validate_json(json.dumps(lead_body(person={"email": "a@example.com",
                                                                           "firstName": "😀" * 25})))
    assert request.person.first_name == "😀" * 25


@pytest.mark.parametrize("address", ["not-an-address", "a@b", "a b@example.com", "ada@example..com", "@example.com"])
def test_when_the_email_is_not_an_address_it_is_refused(address: str) -> None:
    assert list(errors(LeadRequest, lead_body(person={"email": address}))) == [("person", "email")]


def test_when_every_string_holds_quotes_and_unicode_they_are_kept_verbatim() -> None:
    tricky = "O'Brien \"Zoë\" Ünïcødé 東京 & <x> % + # ?"
    body = lead_body(
        subject=tricky, description=tricky + "\nsecond line",
        person={"email": "o'brien+tag@example.com", "firstName": "Zoë 'Z'", "lastName": "O'Brien",
                "company": tricky[:100], "jobTitle": "C\"TO\"", "phone": "+44 (0) 20 'x'",
                "id": "p'1", "fields": {"new_note": tricky}},
        ownerUserId="u'1",
    )
    request = LeadRequest.model_validate_json(json.dumps(body, ensure_ascii=False))
    assert request.subject == tricky
    assert request.person.email == "o'brien+tag@example.com"
    assert request.person.last_name == "O'Brien"
    assert request.person.fields == {"new_note": tricky}
    assert request.owner_user_id == "u'1"


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x85", "\x9f"])
def test_when_strings_hold_control_characters_every_such_field_is_refused(character: str) -> None:
    bad = f"a{character}b"
    found = errors(LeadRequest, lead_body(subject=bad, description=bad, ownerUserId=bad, person={
        "email": "a@example.com", "firstName": bad, "lastName": bad, "company": bad, "jobTitle": bad,
        "phone": bad, "id": bad, "fields": {"new_note": bad}}))
    assert set(found) == {("subject",), ("description",), ("ownerUserId",), ("person", "firstName"),
                          ("person", "lastName"), ("person", "company"), ("person", "jobTitle"),
                          ("person", "phone"), ("person", "id"), ("person", "fields", "new_note")}
    assert all("control characters" in msg for msg in found.values())


def test_when_strings_hold_tabs_and_line_breaks_they_are_text() -> None:
    request = LeadRequest.model_validate_json(json.dumps(lead_body(description="a\tb\r\nc")))
    assert request.description == "a\tb\r\nc"


def test_when_unknown_fields_are_sent_they_are_refused() -> None:
    found = errors(LeadRequest, {**lead_body(), "alwaysCreate": True, "person": {"email": "a@example.com",
                                                                                  "mail": "x"}})
    assert ("alwaysCreate",) in found
    assert ("person", "mail") in found


@pytest.mark.parametrize(
    ("field", "value"),
    [("alwaysCreateLead", "yes"), ("alwaysCreateLead", 1), ("dryRun", "true"), ("subject", 42),
     ("idempotencyKey", 7), ("idempotencyKey", ""), ("person", "ada@example.com"), ("person", None)],
)
def test_when_a_field_has_the_wrong_type_it_is_refused(field: str, value: Any) -> None:
    assert list(errors(LeadRequest, lead_body(**{field: value}))) == [(field,)]


@pytest.mark.parametrize("name", ["FirstName", "first-name", "1abc", "parentcontactid@odata.bind", "_x_value", "",
                                  "a" * 101])
def test_when_fields_are_not_logical_names_they_are_refused(name: str) -> None:
    found = errors(LeadRequest, lead_body(person={"email": "a@example.com", "fields": {name: "x"}}))
    assert list(found) == [("person", "fields", name, "[key]")]


@pytest.mark.parametrize("name", ["leadid", "statecode", "ownerid", "parentcontactid", "subject"])
def test_when_fields_name_a_column_the_step_owns_they_are_refused(name: str) -> None:
    found = errors(LeadRequest, lead_body(person={"email": "a@example.com", "fields": {name: "x"}}))
    assert list(found) == [("person", "fields", name, "[key]")]
    assert "set by the step itself" in found[("person", "fields", name, "[key]")]


def test_when_several_fields_are_bad_each_is_listed() -> None:
    raw = ('{"person": {"email": "a@example.com", "fields": {"Bad": 1, "new_obj": {"a": 1}, "new_list": [1], '
           '"new_inf": 1e999, "new_long": "' + "x" * 4001 + '", "new_ok": "fine", "leadid": "x"}}, "subject": "s"}')
    with pytest.raises(ValidationError) as caught:
        LeadRequest.model_validate_json(raw)
    found = {tuple(e["loc"]): e["msg"] for e in caught.value.errors()}
    assert set(found) == {("person", "fields", "Bad", "[key]"), ("person", "fields", "new_obj"),
                          ("person", "fields", "new_list"), ("person", "fields", "new_inf"),
                          ("person", "fields", "new_long"), ("person", "fields", "leadid", "[key]")}
    assert "finite" in found[("person", "fields", "new_inf")]
    assert "at most 4000" in found[("person", "fields", "new_long")]
    assert "string, a number, a boolean or null" in found[("person", "fields", "new_obj")]


def test_when_more_than_a_hundred_fields_are_given_it_is_refused() -> None:
    fields = {f"new_f{i}": i for i in range(101)}
    found = errors(LeadRequest, lead_body(person={"email": "a@example.com", "fields": fields}))
    assert found == {("person", "fields"): "Value error, at most 100 fields may be given"}
    ok = LeadRequest.model_validate_json(json.dumps(lead_body(person={"email": "a@example.com",
                                                                      "fields": dict(list(fields.items())[:100])})))
    assert len(ok.person.fields) == 100


def test_when_field_values_are_scalars_they_are_kept_with_their_types() -> None:
    body = lead_body(person={"email": "a@example.com",
                             "fields": {"new_n": 3, "new_b": True, "new_f": 1.5, "new_s": " x ", "new_z": None}})
    request = LeadRequest.model_validate_json(json.dumps(body))
    assert request.person.fields == {"new_n": 3, "new_b": True, "new_f": 1.5, "new_s": "x", "new_z": None}


# -- add activity ---------------------------------------------------------------------------------


def test_when_an_activity_body_is_minimal_defaults_apply() -> None:
    request = ActivityRequest.model_validate_json(json.dumps(activity_body()))
    assert (request.mode, request.prefer) == ("smart", "lead")
    assert request.activity.priority == "normal"
    assert request.activity.direction is None


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({**activity_body(), "mode": "lenient"}, ("mode",)),
        ({**activity_body(), "prefer": "account"}, ("prefer",)),
        (activity_body(type="email"), ("activity", "type")),
        (activity_body(priority="urgent"), ("activity", "priority")),
        (activity_body(type="phonecall", direction="sideways"), ("activity", "direction")),
        (activity_body(subject="x" * 201), ("activity", "subject")),
        (activity_body(subject=" "), ("activity", "subject")),
        (activity_body(dueInDays=-1), ("activity", "dueInDays")),
        (activity_body(dueInDays="3"), ("activity", "dueInDays")),
        (activity_body(dueInDays=2.5), ("activity", "dueInDays")),
        (activity_body(dueDate="2026-02-30"), ("activity", "dueDate")),
        (activity_body(dueDate="2026-05-01T09:00:00"), ("activity", "dueDate")),
        (activity_body(dueDate="next tuesday"), ("activity", "dueDate")),
        (activity_body(dueDate="1752-12-31"), ("activity", "dueDate")),
        (activity_body(dueDate="0001-01-01"), ("activity", "dueDate")),
        (activity_body(dueDate="1753-01-01T00:30:00+01:00"), ("activity", "dueDate")),
        (activity_body(dueDate="0001-01-01T00:00:00+14:00"), ("activity", "dueDate")),
        (activity_body(dueDate="9999-12-31T23:59:59-14:00"), ("activity", "dueDate")),
        (activity_body(dueDate=20260501), ("activity", "dueDate")),
        (activity_body(description="d" * 2001), ("activity", "description")),
        (activity_body(dueDate="2026-05-01", dueInDays=3), ("activity",)),
        (activity_body(phoneNumber="+1 555"), ("activity",)),
        (activity_body(direction="incoming"), ("activity",)),
        (activity_body(type="phonecall", phoneNumber="1" * 201), ("activity", "phoneNumber")),
    ],
)
def test_when_an_activity_is_invalid_the_field_is_named(body: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert list(errors(ActivityRequest, body)) == [loc]


def test_when_due_in_days_is_an_integral_number_like_3_0_it_is_the_integer_3() -> None:
    request = ActivityRequest.model_validate_json('{"person": {"email": "a@example.com"}, '
                                                  '"activity": {"type": "task", "subject": "s", "dueInDays": 3.0}}')
    assert request.activity.due_in_days == 3 and isinstance(request.activity.due_in_days, int)


def test_when_the_activity_is_missing_it_is_refused() -> None:
    assert list(errors(ActivityRequest, {"person": {"email": "a@example.com"}})) == [("activity",)]


def test_when_due_date_is_a_date_it_stays_a_date() -> None:
    request = ActivityRequest.model_validate_json(json.dumps(activity_body(dueDate="2026-05-01")))
    assert request.activity.due_date == date(2026, 5, 1)


def test_when_due_date_has_an_offset_it_is_kept_as_an_instant() -> None:
    request = ActivityRequest.model_validate_json(json.dumps(activity_body(dueDate="2026-05-01T09:30:00+02:00")))
    assert request.activity.due_date == datetime(2026, 5, 1, 7, 30, tzinfo=UTC)
    assert request.activity.due_date.utcoffset() == timedelta(hours=2)  # type: ignore[union-attr]
    zulu = ActivityRequest.model_validate_json(json.dumps(activity_body(dueDate="2026-05-01T09:30:00Z")))
    assert zulu.activity.due_date == datetime(2026, 5, 1, 9, 30, tzinfo=timezone.utc)  # noqa: UP017


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2028-02-29", date(2028, 2, 29)), ("1753-01-01", date(1753, 1, 1)), ("9999-12-31", date(9999, 12, 31)),
     ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
     ("1753-01-01T01:00:00+01:00", datetime(1753, 1, 1, tzinfo=UTC))],
    ids=["leap-day", "earliest-day", "latest-day", "latest-instant", "earliest-instant-with-offset"],
)
def test_when_due_date_is_at_the_edge_of_what_dynamics_stores_it_is_accepted(text: str, expected: date) -> None:
    request = ActivityRequest.model_validate_json(json.dumps(activity_body(dueDate=text)))
    assert request.activity.due_date == expected


def test_when_a_phone_call_has_number_and_direction_they_are_kept() -> None:
    body = activity_body(type="phonecall", phoneNumber=" +44 20 1234 ", direction="incoming", priority="high")
    request = ActivityRequest.model_validate_json(json.dumps(body))
    assert (request.activity.phone_number, request.activity.direction) == ("+44 20 1234", "incoming")


# -- add to marketing list ------------------------------------------------------------------------


def list_body(**changes: Any) -> dict[str, Any]:
    return {"person": {"email": "ada@example.com"}, "target": "contact", "list": {"name": "Webinar"}, **changes}


def test_when_a_list_is_named_by_id_the_id_is_a_guid() -> None:
    request = ListRequest.model_validate_json(json.dumps(list_body(list={"id": "6F9619FF-8B86-D011-B42D-00CF4FC964FF"})))
    assert str(request.list.id) == "6f9619ff-8b86-d011-b42d-00cf4fc964ff"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (list_body(target="account"), ("target",)),
        (list_body(target=None), ("target",)),
        (list_body(list={}), ("list",)),
        (list_body(list={"id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff", "name": "Webinar"}), ("list",)),
        (list_body(list={"id": "not-a-guid"}), ("list", "id")),
        (list_body(list={"name": "   "}), ("list",)),
        (list_body(list={"name": "n" * 129}), ("list", "name")),
        (list_body(list={"listname": "Webinar"}), ("list", "listname")),
        (list_body(list="Webinar"), ("list",)),
    ],
)
def test_when_the_list_reference_is_invalid_the_field_is_named(body: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert list(errors(ListRequest, body)) == [loc]


def test_when_the_target_is_missing_it_is_refused() -> None:
    assert list(errors(ListRequest, {"person": {"email": "a@example.com"}, "list": {"name": "x"}})) == [("target",)]


def test_when_a_list_name_has_quotes_it_is_kept() -> None:
    request = ListRequest.model_validate_json(json.dumps(list_body(list={"name": "Ada's 'VIP' list"})))
    assert request.list.name == "Ada's 'VIP' list"
