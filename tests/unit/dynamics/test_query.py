"""The query builder: literals, escaping, field-name validation and URL encoding (no I/O)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from urllib.parse import parse_qsl, unquote

import pytest

from shared.dynamics import Expand, Query, bind, literal
from shared.dynamics import Filter as F
from shared.dynamics.query import MAX_CONDITIONS, MAX_IN_CHARACTERS, entity_path, key_segment

GUID = "3B9E0D6A-1C2B-4D5E-8F90-A1B2C3D4E5F6"


def decoded(query: Query) -> dict[str, str]:
    """What a server sees after percent-decoding the query string."""
    return dict(parse_qsl(query.to_query_string(), keep_blank_values=True))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (1.5, "1.5"),
        (Decimal("10.50"), "10.50"),
        ("plain", "'plain'"),
        ("o'brien", "'o''brien'"),
        ("''", "''''''"),
        ("", "''"),
        ("Zoë 東京", "'Zoë 東京'"),
        (uuid.UUID(GUID), GUID.lower()),
        (dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC), "2024-05-01T10:00:00Z"),
        (dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2024-05-01T10:00:00Z"),
        (dt.datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=dt.UTC), "2024-05-01T10:00:00.25Z"),
        (dt.date(2024, 5, 1), "2024-05-01"),
    ],
)
def test_when_a_value_is_formatted_it_becomes_the_odata_literal(value: object, expected: str) -> None:
    assert literal(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [dt.datetime(2024, 5, 1), float("nan"), float("inf"), Decimal("NaN")])
def test_when_a_literal_would_be_ambiguous_it_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        literal(value)  # type: ignore[arg-type]


def test_when_a_value_has_no_literal_form_it_is_refused() -> None:
    with pytest.raises(TypeError):
        literal(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (F.eq("statecode", 0), "statecode eq 0"),
        (F.ne("statecode", 1), "statecode ne 1"),
        (F.lt("percentcomplete", 50), "percentcomplete lt 50"),
        (F.le("percentcomplete", 50), "percentcomplete le 50"),
        (F.gt("modifiedon", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)), "modifiedon gt 2024-05-01T10:00:00Z"),
        (F.ge("createdon", dt.date(2024, 5, 1)), "createdon ge 2024-05-01"),
        (F.eq("emailaddress1", None), "emailaddress1 eq null"),
        (F.is_null("emailaddress1"), "emailaddress1 eq null"),
        (F.not_null("emailaddress1"), "emailaddress1 ne null"),
        (F.eq("donotemail", False), "donotemail eq false"),
        (F.contains("fullname", "ad"), "contains(fullname,'ad')"),
        (F.startswith("fullname", "O'B"), "startswith(fullname,'O''B')"),
        (F.endswith("emailaddress1", "@example.com"), "endswith(emailaddress1,'@example.com')"),
        (F.eq("parentcontactid/emailaddress1", "a@b.com"), "parentcontactid/emailaddress1 eq 'a@b.com'"),
        (F.eq("statecode", 0) & F.eq("merged", False), "(statecode eq 0) and (merged eq false)"),
        (F.eq("a", 1) | F.eq("b", 2), "(a eq 1) or (b eq 2)"),
        (~F.contains("fullname", "x"), "not (contains(fullname,'x'))"),
        (F.and_(F.eq("a", 1)), "a eq 1"),
        (F.or_(F.eq("a", 1), F.eq("b", 2), F.eq("c", 3)), "(a eq 1) or (b eq 2) or (c eq 3)"),
        (F.not_(F.eq("a", 1) | F.eq("b", 2)), "not ((a eq 1) or (b eq 2))"),
    ],
)
def test_when_a_filter_is_built_it_reads_as_odata(built: F, expected: str) -> None:
    assert str(built) == expected


def test_when_a_guid_is_compared_with_a_key_or_lookup_it_is_unquoted() -> None:
    assert str(F.eq("_parentcontactid_value", GUID)) == f"_parentcontactid_value eq {GUID.lower()}"
    assert str(F.eq("parentcontactid/_ownerid_value", GUID)) == f"parentcontactid/_ownerid_value eq {GUID.lower()}"
    assert str(F.eq("systemuserid", GUID)) == f"systemuserid eq {GUID.lower()}"
    assert str(F.eq("leadid", uuid.UUID(GUID))) == f"leadid eq {GUID.lower()}"
    assert str(F.eq("new_eventid", uuid.UUID(GUID))) == f"new_eventid eq {GUID.lower()}"


@pytest.mark.parametrize("column", ["description", "new_platformcontactid", "new_eventid", "externalid"])
def test_when_a_guid_shaped_text_is_compared_with_another_column_it_stays_a_string(column: str) -> None:
    # Only lookups and known keys are surely GUID columns; a text column ending in `id` is text.
    assert str(F.eq(column, GUID)) == f"{column} eq '{GUID}'"


def test_when_in_is_built_values_are_json_double_quoted() -> None:
    built = F.in_("emailaddress1", ["a@x.com", "o'b@x.com", 'say "hi"'])
    assert str(built) == (
        "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',"
        'PropertyValues=["a@x.com","o\'b@x.com","say \\"hi\\""])'
    )


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (F.contains("fullname", "100%"), "contains(fullname,'100[%]')"),
        (F.startswith("emailaddress1", "first_last"), "startswith(emailaddress1,'first[_]last')"),
        (F.endswith("subject", "[draft]"), "endswith(subject,'[[]draft]')"),
        (F.contains("fullname", "O'B%_["), "contains(fullname,'O''B[%][_][[]')"),
        (F.contains("fullname", "a]^-b"), "contains(fullname,'a]^-b')"),
    ],
)
def test_when_a_string_function_value_holds_like_wildcards_they_are_bracketed(built: F, expected: str) -> None:
    # Dataverse matches these values with SQL LIKE: unescaped, `%` and `_` would match anything.
    assert str(built) == expected


def test_when_in_values_pass_850_characters_they_are_spread_over_several_in_conditions() -> None:
    emails = [f"person.number{i:03d}@example.com" for i in range(120)]
    built = F.in_("emailaddress1", emails)
    parts = str(built).split(" or ")
    assert len(parts) == built.conditions > 1
    arrays = [part[part.index("[") : part.rindex("]") + 1] for part in parts]
    assert all(len(array) <= MAX_IN_CHARACTERS for array in arrays)
    assert [v for array in arrays for v in array.strip("[]").split(",")] == [f'"{e}"' for e in emails]
    assert all(part.startswith("(Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',") for part in parts)


def test_when_in_values_fit_in_850_characters_they_stay_one_condition() -> None:
    fits = ["x" * (MAX_IN_CHARACTERS - 4)]  # with its quotes and the brackets: exactly 850
    assert F.in_("emailaddress1", fits).conditions == 1
    with pytest.raises(ValueError):
        F.in_("emailaddress1", ["x" * (MAX_IN_CHARACTERS - 3)])


def test_when_a_query_has_more_than_500_conditions_it_is_refused_before_sending() -> None:
    def chain(n: int) -> F:
        return F.or_(*(F.eq("emailaddress1", f"a{i}@x.com") for i in range(n)))

    assert Query(filter=chain(MAX_CONDITIONS)).params()
    with pytest.raises(ValueError, match="500"):
        Query(filter=chain(MAX_CONDITIONS + 1))
    # An $expand is a join and counts too, with its own filter.
    with pytest.raises(ValueError):
        Query(filter=chain(MAX_CONDITIONS), expand=[Expand("parentcontactid")])
    with pytest.raises(ValueError):
        Query(filter=chain(MAX_CONDITIONS - 2), expand=[Expand("Lead_Tasks", filter=F.eq("a", 1) & F.eq("b", 2))])
    # In collapses an or-chain into one condition.
    assert F.in_("emailaddress1", [f"a{i}@x.com" for i in range(20)]).conditions == 1
    assert (~chain(3) & F.eq("statecode", 0)).conditions == 4


def test_when_in_gets_nothing_or_odd_values_it_is_refused() -> None:
    with pytest.raises(ValueError):
        F.in_("emailaddress1", [])
    with pytest.raises(TypeError):
        F.in_("emailaddress1", [None])


@pytest.mark.parametrize(
    "name",
    ["", "1abc", "emailaddress1 eq 'x' or 1", "name)", "a,b", "a;b", "a b", "a/", "/a", "a//b", "x'", "é"],
)
def test_when_a_field_name_is_not_an_identifier_it_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        F.eq(name, 1)
    with pytest.raises(ValueError):
        Query(select=[name])
    with pytest.raises(ValueError):
        Query(orderby=[name])


def test_when_combining_with_a_non_filter_it_is_refused() -> None:
    with pytest.raises(TypeError):
        F.eq("a", 1) & "b eq 2"  # type: ignore[operator]


# The e-mail a careless builder would let break out of its literal.
EVIL = "o'brien@example.com"


def test_when_an_email_has_a_quote_it_matches_exactly_and_changes_nothing_else() -> None:
    base = Query(
        select=["leadid", "modifiedon"],
        filter=F.eq("emailaddress1", "PLACEHOLDER") & F.eq("statecode", 0),
        orderby=[("modifiedon", "desc"), ("leadid", "asc")],
        top=50,
    )
    evil = Query(
        select=["leadid", "modifiedon"],
        filter=F.eq("emailaddress1", EVIL) & F.eq("statecode", 0),
        orderby=[("modifiedon", "desc"), ("leadid", "asc")],
        top=50,
    )
    params, evil_params = decoded(base), decoded(evil)
    assert evil_params["$filter"] == "(emailaddress1 eq 'o''brien@example.com') and (statecode eq 0)"
    # Apart from the literal itself, every option is identical.
    assert evil_params["$filter"].replace("'o''brien@example.com'", "'PLACEHOLDER'") == params["$filter"]
    assert {k: v for k, v in evil_params.items() if k != "$filter"} == {
        k: v for k, v in params.items() if k != "$filter"
    }
    assert list(evil_params) == ["$select", "$filter", "$orderby", "$top"]


@pytest.mark.parametrize(
    "value",
    ["a+tag@example.com", "a&b@example.com", "a#b@example.com", "100%@example.com", "x=y;z?@example.com",
     "zoë@exämple.com", "東京@example.jp", "' or 1 eq 1 or '", "a%2Bb"],
)
def test_when_a_literal_has_url_special_characters_they_survive_encoding(value: str) -> None:
    query = Query(select=["leadid"], filter=F.eq("emailaddress1", value))
    raw = query.to_query_string()
    # Option names stay literal, and nothing in the value can end or add an option.
    assert raw.startswith("$select=leadid&$filter=")
    assert raw.count("&") == 1 and "#" not in raw and "+" not in raw and " " not in raw
    assert decoded(query)["$filter"] == "emailaddress1 eq '" + value.replace("'", "''") + "'"


def test_when_a_literal_has_a_plus_it_is_sent_as_percent_2b() -> None:
    raw = Query(filter=F.eq("emailaddress1", "a+b@x.com")).to_query_string()
    assert "%2B" in raw
    assert unquote(raw.split("=", 1)[1]) == "emailaddress1 eq 'a+b@x.com'"


def test_when_all_options_are_given_they_come_in_a_fixed_order() -> None:
    query = Query(
        select=["fullname"],
        filter=F.eq("statecode", 0),
        orderby=["fullname"],
        top=3,
        count=True,
        expand=[
            Expand("parentcontactid", select=["fullname", "emailaddress1"]),
            Expand(
                "Lead_Tasks",
                select=["subject"],
                filter=F.eq("statecode", 0),
                orderby=[("createdon", "desc")],
                top=2,
            ),
        ],
    )
    assert query.params() == [
        ("$select", "fullname"),
        ("$filter", "statecode eq 0"),
        ("$orderby", "fullname"),
        ("$top", "3"),
        ("$count", "true"),
        (
            "$expand",
            "parentcontactid($select=fullname,emailaddress1),"
            "Lead_Tasks($select=subject;$filter=statecode eq 0;$orderby=createdon desc;$top=2)",
        ),
    ]
    assert decoded(query)["$expand"] == query.params()[-1][1]


def test_when_an_expand_is_nested_it_renders_inside_its_parent() -> None:
    expand = Expand("parentcustomerid_account", select=["name"], expand=[Expand("primarycontactid", select=["fullname"])])
    assert expand.render() == "parentcustomerid_account($select=name;$expand=primarycontactid($select=fullname))"
    assert Expand("ownerid").render() == "ownerid"


@pytest.mark.parametrize("top", [0, -1, True, 1.5])
def test_when_top_is_not_a_positive_integer_it_is_refused(top: object) -> None:
    with pytest.raises(ValueError):
        Query(top=top)  # type: ignore[arg-type]


def test_when_select_is_a_string_it_is_refused() -> None:
    with pytest.raises(TypeError):
        Query(select="leadid")


def test_when_an_order_direction_is_unknown_it_is_refused() -> None:
    with pytest.raises(ValueError):
        Query(orderby=[("leadid", "up")])


def test_when_no_option_is_given_the_query_string_is_empty() -> None:
    assert Query().to_query_string() == ""


def test_when_a_row_is_addressed_keys_are_formatted_and_escaped() -> None:
    assert key_segment(GUID) == f"({GUID.lower()})"
    assert key_segment({"emailaddress1": "o'b@x.com"}) == "(emailaddress1='o''b@x.com')"
    assert key_segment({"firstname": "Joe", "accountnumber": 7}) == "(firstname='Joe',accountnumber=7)"
    assert entity_path("leads", GUID) == f"leads({GUID.lower()})"
    assert entity_path("contacts", {"emailaddress1": "a+b@x.com"}) == "contacts(emailaddress1='a%2Bb@x.com')"
    with pytest.raises(ValueError):
        key_segment("not-a-guid")
    with pytest.raises(ValueError):
        entity_path("leads;drop", GUID)


def test_when_binding_a_lookup_the_value_is_a_relative_entity_url() -> None:
    assert bind("contacts", GUID) == f"/contacts({GUID.lower()})"
    assert bind("systemusers", uuid.UUID(GUID)) == f"/systemusers({GUID.lower()})"
    assert bind("contacts", "$1") == "$1"
    with pytest.raises(ValueError):
        bind("contacts", "x) or (")
    with pytest.raises(ValueError):
        bind("contacts/../x", GUID)
