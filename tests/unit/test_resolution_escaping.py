"""Property: whatever text a person or a list name holds, it changes nothing in a look-up but its
own literal. No I/O.

Each query the steps build is rendered, its string literals are read back with the OData rule
(`'` opens and closes, `''` inside is one quote), and the rest, the query's shape, must be the
same as for a plain value; the literals must read back as exactly the values given; and the
percent-encoded query string must decode to the very same options (so `+`, `&`, `#`, `%` survive).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.dynamics.query import Query
from shared.steps import add_to_marketing_list, create_update_lead
from shared.steps.common import StepConfig, person_lookup
from shared.steps.models import LeadRequest, ListRequest

# Any text a JSON body can carry (no lone surrogates), weighted towards what breaks quoting.
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60),
    st.text(st.sampled_from("'\"()%+&#?/\\ ,;=$@:[]_*eqorand01"), min_size=1, max_size=30),
    st.sampled_from(["') or (1 eq 1", "o'brien@example.com", "''", "'", "%27", "a+b@example.com", "x' or 'x'='x"]),
    st.uuids().map(str),  # a platform id: still text on a text column, even one named ...id
)


def split_literals(text: str) -> tuple[str, list[str]]:
    """`text` with every string literal replaced by `'?'`, and the literals' values in order."""
    shape: list[str] = []
    literals: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "'":
            shape.append(text[i])
            i += 1
            continue
        value: list[str] = []
        i += 1
        while True:
            assert i < len(text), f"unterminated literal in {text!r}"
            if text[i] == "'" and text[i + 1 : i + 2] == "'":
                value.append("'")
                i += 2
            elif text[i] == "'":
                i += 1
                break
            else:
                value.append(text[i])
                i += 1
        shape.append("'?'")
        literals.append("".join(value))
    return "".join(shape), literals


def rendered(query: Query) -> str:
    return " ".join(f"{name}={value}" for name, value in query.params())


def assert_only_literals_differ(plain: Query, tricky: Query, values: list[str], plain_values: list[str]) -> None:
    plain_shape, plain_literals = split_literals(rendered(plain))
    shape, literals = split_literals(rendered(tricky))
    assert shape == plain_shape
    assert plain_literals == plain_values
    assert literals == values
    assert parse_qsl(tricky.to_query_string(), keep_blank_values=True, strict_parsing=True) == tricky.params()


CONFIG = StepConfig(lead_identifiers=(("emailaddress1",), ("lastname", "new_platformid")))


@settings(max_examples=400, derandomize=True, database=None)
@given(email=TEXT, last=TEXT, platform_id=TEXT)
def test_when_a_person_holds_any_text_only_its_literals_change(email: str, last: str, platform_id: str) -> None:
    plain = person_lookup("lead", CONFIG, {"emailaddress1": "e", "lastname": "l", "new_platformid": "p"}).queries()
    tricky = person_lookup("lead", CONFIG, {"emailaddress1": email, "lastname": last,
                                            "new_platformid": platform_id}).queries()
    assert len(tricky) == len(plain) == 2
    assert_only_literals_differ(plain[0][1], tricky[0][1], [email], ["e"])
    assert_only_literals_differ(plain[1][1], tricky[1][1], [last, platform_id], ["l", "p"])


@settings(max_examples=300, derandomize=True, database=None)
@given(name=st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=60).filter(
    lambda text: text.strip() == text and text.strip()))
def test_when_a_list_name_holds_any_text_only_its_literals_change(name: str) -> None:
    def queries(list_name: str) -> list[Query]:
        request = ListRequest.model_validate({"person": {"email": "a@example.com"}, "target": "contact",
                                              "list": {"name": list_name}})
        return [query for _, query in add_to_marketing_list.prepare(request, StepConfig()).requests()]

    plain, tricky = queries("n"), queries(name)
    assert_only_literals_differ(plain[0], tricky[0], [name], ["n"])  # the list itself
    assert_only_literals_differ(plain[1], tricky[1], ["a@example.com", name], ["a@example.com", "n"])  # membership


def test_when_the_address_is_o_brien_the_lead_query_is_exactly_the_plain_one_with_the_quote_doubled() -> None:
    """The escaping example of docs/STEPS.md, spelled out."""
    lookups = create_update_lead.prepare(
        LeadRequest.model_validate({"person": {"email": "o'brien@example.com"}, "subject": "s"}),
        StepConfig())
    filters = [str(query.filter) for _, query in lookups.requests()]
    assert filters == ["(emailaddress1 eq 'o''brien@example.com') and (statecode eq 0)"] * 2
