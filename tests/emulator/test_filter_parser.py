"""The emulator's own $filter parser, as a table of cases (no HTTP)."""

from __future__ import annotations

import pytest

from devtools.dataverse_emulator.errors import ODataError
from devtools.dataverse_emulator.filter_eval import like_regex
from devtools.dataverse_emulator.filter_parser import (
    BoolOp,
    Call,
    Compare,
    CrmCall,
    Lambda,
    Literal,
    Not,
    Prop,
    count_conditions,
    parse_filter,
)

GUID = "8f1b0000-aaaa-4bbb-8ccc-0000000000c2"


@pytest.mark.parametrize(("text", "expected"), [
    ("lastname eq 'O''Brien'", Compare("eq", Prop(("lastname",)), Literal("string", "O'Brien"))),
    (f"_parentcontactid_value eq {GUID.upper()}", Compare("eq", Prop(("_parentcontactid_value",)), Literal("guid", GUID))),
    ("modifiedon gt 2024-05-01T10:00:00Z", Compare("gt", Prop(("modifiedon",)), Literal("datetime", "2024-05-01T10:00:00Z"))),
    ("birthdate le 2024-05-01", Compare("le", Prop(("birthdate",)), Literal("date", "2024-05-01"))),
    ("revenue ge -1.5", Compare("ge", Prop(("revenue",)), Literal("float", -1.5))),
    ("donotemail eq false", Compare("eq", Prop(("donotemail",)), Literal("bool", False))),
    ("emailaddress1 ne null", Compare("ne", Prop(("emailaddress1",)), Literal("null", None))),
    ("firstname eq lastname", Compare("eq", Prop(("firstname",)), Prop(("lastname",)))),
    ("parentcontactid/emailaddress1 eq 'a'", Compare("eq", Prop(("parentcontactid", "emailaddress1")), Literal("string", "a"))),
    ("not contains(subject,'x')", Not(Call("contains", (Prop(("subject",)), Literal("string", "x"))))),
    ("a eq 1 or b eq 2 and c eq 3", BoolOp("or", Compare("eq", Prop(("a",)), Literal("int", 1)),
                                           BoolOp("and", Compare("eq", Prop(("b",)), Literal("int", 2)),
                                                  Compare("eq", Prop(("c",)), Literal("int", 3))))),
    ("Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a','o''b'])",
     CrmCall("In", {"PropertyName": Literal("string", "x"), "PropertyValues": Literal("list", ["a", "o'b"])})),
    ('Microsoft.Dynamics.CRM.In(PropertyName=\'x\',PropertyValues=["a","o\'b"])',
     CrmCall("In", {"PropertyName": Literal("string", "x"), "PropertyValues": Literal("list", ["a", "o'b"])})),
    ("Lead_Tasks/any(t:t/statecode eq 0)",
     Lambda(Prop(("Lead_Tasks",)), "any", "t", Compare("eq", Prop(("statecode",), "t"), Literal("int", 0)))),
])
def test_when_a_filter_is_parsed_the_tree_matches(text: str, expected: object) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [
    "lastname eq 'O'Brien'", "lastname eq 'open", "lastname eq", "(a eq 1", "a in ('x')", "tolower(a) eq 'x'",
    "Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a' 'b'])", "a eq 1 1", "",
])
def test_when_a_filter_is_malformed_it_is_refused(text: str) -> None:
    with pytest.raises(ODataError) as caught:
        parse_filter(text)
    assert caught.value.status == 400


def test_when_aliases_are_given_they_replace_their_names() -> None:
    assert parse_filter("@p1 eq @p2", {"@p1": "lastname", "@p2": "'x'"}) == Compare(
        "eq", Prop(("lastname",)), Literal("string", "x"))


def test_when_conditions_are_counted_functions_count_once() -> None:
    node = parse_filter("a eq 1 and (contains(b,'x') or Microsoft.Dynamics.CRM.In(PropertyName='c',PropertyValues=[1,2]))")
    assert count_conditions(node) == 3


@pytest.mark.parametrize(("pattern", "mode", "text", "matches"), [
    ("bob", "contains", "Mr BOB Smith", True),
    ("b_b", "startswith", "bob", True),
    ("b%b", "startswith", "barb", True),
    ("[bc]at", "startswith", "cat", True),
    ("[^bc]at", "startswith", "cat", False),
    ("100[%]", "endswith", "is 100%", True),
    ("a.c", "contains", "abc", False),
    ("x", "endswith", "xy", False),
])
def test_when_wildcards_are_matched_they_behave_like_sql_like(pattern: str, mode: str, text: str,
                                                               matches: bool) -> None:
    assert bool(like_regex(pattern, mode).fullmatch(text)) is matches
