"""Lock keys of a person, as a table: two writers collide exactly when a look-up by one could find
the record the other creates. No I/O."""

from __future__ import annotations

from typing import Any

import pytest

from shared.person_keys import PersonKey, person_keys
from shared.resolution import person_attributes
from shared.steps.common import DEFAULT_PERSON_FIELDS

EMAIL = [["emailaddress1"]]
EMAIL_THEN_NAME = [["emailaddress1"], ["firstname", "lastname", "companyname"]]


def keys(person: dict[str, Any], identifiers: list[list[str]] = EMAIL, kind: str = "lead",
         fields: dict[str, Any] | None = None) -> tuple[PersonKey, ...]:
    values = person_attributes(person, DEFAULT_PERSON_FIELDS, fields)
    return person_keys(kind, identifiers, values)  # type: ignore[arg-type]


ADA = {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "company": "Analytical"}


@pytest.mark.parametrize(
    ("name", "first", "second", "identifiers", "collide"),
    [
        ("same e-mail", {"email": "ada@example.com"}, {"email": "ada@example.com"}, EMAIL, True),
        ("e-mail case and spaces", {"email": " Ada@Example.COM "}, {"email": "ada@example.com"}, EMAIL, True),
        ("other e-mail", {"email": "ada@example.com"}, {"email": "bob@example.com"}, EMAIL, False),
        ("same name set, no e-mail on one", ADA, {k: v for k, v in ADA.items() if k != "email"},
         EMAIL_THEN_NAME, True),
        ("same e-mail, other names", ADA, {**ADA, "lastName": "Byron"}, EMAIL_THEN_NAME, True),
        ("other e-mail, same names", ADA, {**ADA, "email": "countess@example.com"}, EMAIL_THEN_NAME, True),
        ("name case", ADA, {**ADA, "email": "x@example.com", "company": " ANALYTICAL "}, EMAIL_THEN_NAME, True),
        ("other names, other e-mail", ADA, {**ADA, "email": "x@example.com", "lastName": "B"}, EMAIL_THEN_NAME,
         False),
        ("a set only partly filled is no key", {"firstName": "Ada", "lastName": "Lovelace", "company": "A"},
         {"firstName": "Ada", "lastName": "Lovelace"}, EMAIL_THEN_NAME, False),
    ],
)
def test_when_two_people_share_a_filled_identifier_set_their_keys_collide(
    name: str, first: dict[str, Any], second: dict[str, Any], identifiers: list[list[str]], collide: bool
) -> None:
    assert bool(set(keys(first, identifiers)) & set(keys(second, identifiers))) is collide, name


def test_when_the_person_fills_every_set_there_is_one_key_per_set_sorted() -> None:
    found = keys(ADA, EMAIL_THEN_NAME)
    assert len(found) == 2 and list(found) == sorted(found)
    assert {key.table for key in found} == {"lead"}


def test_when_a_set_lists_attributes_in_another_order_the_key_is_the_same() -> None:
    reordered = [["companyname", "lastname", "firstname"]]
    assert keys(ADA, [["firstname", "lastname", "companyname"]]) == keys(ADA, reordered)


def test_when_two_sets_repeat_the_key_is_taken_once() -> None:
    assert len(keys(ADA, [["emailaddress1"], ["emailaddress1"]])) == 1


def test_when_the_tables_differ_the_keys_differ() -> None:
    assert set(keys(ADA, kind="lead")).isdisjoint(keys(ADA, kind="contact"))


def test_when_a_value_holds_separators_it_cannot_pass_for_another_set() -> None:
    first = keys({}, [["new_a", "new_b"]], fields={"new_a": "x", "new_b": "y,z"})
    second = keys({}, [["new_a", "new_b"]], fields={"new_a": "x,y", "new_b": "z"})
    assert set(first).isdisjoint(second)


def test_when_numbers_are_equal_their_keys_are_equal() -> None:
    assert keys({}, [["new_code"]], fields={"new_code": 7}) == keys({}, [["new_code"]], fields={"new_code": 7.0})


def test_when_nobody_is_identified_there_are_no_keys() -> None:
    assert keys({"firstName": "Ada"}, EMAIL) == ()

