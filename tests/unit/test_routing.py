"""HTTP route templates as the local host matches them (devtools/routing.py)."""

from __future__ import annotations

import pytest

from devtools.routing import RouteError, RouteTemplate

GUID = "5f0c6a4e-2b8e-4c1e-9d53-0a1b2c3d4e5f"


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("health", "health", {}),
        ("health", "HEALTH", {}),  # literals are case-insensitive
        ("health", "health/", {}),
        ("health", "healthz", None),
        ("journey/batches/{batchId}", "journey/batches/b-1", {"batchId": "b-1"}),
        ("journey/batches/{batchId}", "journey/batches", None),
        ("journey/batches/{batchId}", "journey/batches/a/b", None),
        ("items/{id}", "items/a%20b%2Fc", {"id": "a b/c"}),  # decoded after splitting
        ("items/{id?}", "items", {}),
        ("items/{id=all}", "items", {"id": "all"}),
        ("files/{*rest}", "files/a/b/c", {"rest": "a/b/c"}),
        ("files/{*rest}", "files", {}),
        ("things/{id:guid}", f"things/{GUID}", {"id": GUID}),
        ("things/{id:guid}", "things/123", None),
        ("n/{n:int}", "n/-12", {"n": "-12"}),
        ("n/{n:int}", "n/99999999999", None),  # beyond 32 bits
        ("n/{n:long}", "n/99999999999", {"n": "99999999999"}),
        ("n/{n:int:min(1)}", "n/0", None),
        ("n/{n:range(1,5)}", "n/5", {"n": "5"}),
        ("a/{x:alpha}", "a/abc", {"x": "abc"}),
        ("a/{x:alpha}", "a/ab1", None),
        ("a/{x:length(2)}", "a/ab", {"x": "ab"}),
        ("a/{x:maxlength(2)}", "a/abc", None),
        ("a/{x:regex(^[a-z]{2}-\\d+$)}", "a/ab-12", {"x": "ab-12"}),
        ("a/{x:bool}", "a/True", {"x": "True"}),
    ],
)
def test_when_a_path_is_matched_the_route_values_come_back(template: str, path: str, expected: dict | None) -> None:
    assert RouteTemplate(template).match(path) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("items/{id}.{ext}", "one parameter per segment"),
        ("items/{id?}/more", "trailing"),
        ("files/{*rest}/more", "last segment"),
        ("a/{x}/b/{x}", "twice"),
        ("a/{x:nonsense}", "unknown route constraint"),
        ("a/{1x}", "bad parameter name"),
    ],
)
def test_when_a_template_cannot_be_read_the_error_says_why(template: str, message: str) -> None:
    with pytest.raises(RouteError, match=message):
        RouteTemplate(template)


def test_when_templates_are_sorted_literals_come_before_parameters_and_catch_alls() -> None:
    templates = [RouteTemplate(t) for t in ("items/{*rest}", "items/{id}", "items/{id:int}", "items/special")]
    ordered = sorted(templates, key=lambda t: t.specificity)
    assert [t.template for t in ordered] == ["items/special", "items/{id:int}", "items/{id}", "items/{*rest}"]
