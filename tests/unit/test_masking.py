"""Masking of personal data and secrets in logs."""

from __future__ import annotations

import logging

import pytest

from shared.http import install_logging, request_context
from shared.masking import mask_address, mask_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jane@example.com", "j***@example.com"),
        ("lookup for O'Brien.Smith+tag@sub.example.co.uk failed", "lookup for O***@sub.example.co.uk failed"),
        ("a@b.io and z.z@c.org", "a***@b.io and z***@c.org"),
        ("no address here", "no address here"),
    ],
)
def test_mask_email(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123"),
        ("Authorization: Bearer eyJ0eXAi.abc", "eyJ0eXAi.abc"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-part", "eyJhbGciOiJIUzI1NiJ9"),
        ("AccountName=a;AccountKey=c2VjcmV0LWtleQ==;EndpointSuffix=x", "c2VjcmV0LWtleQ=="),
        ("GET /api/config?code=func-key-123&x=1", "func-key-123"),
        ('{"access_token": "tok-123", "x": 1}', "tok-123"),
        ("client_secret=shh-123", "shh-123"),
        ("https://acct.blob.core.windows.net/c/b?sv=1&sig=abcDEF%2B", "abcDEF%2B"),
    ],
)
def test_mask_text_hides_tokens_and_keys(text: str, secret: str) -> None:
    masked = mask_text(text)
    assert secret not in masked
    assert "***" in masked


def test_dataverse_error_codes_are_not_mistaken_for_secrets() -> None:
    assert mask_text("Dynamics answered 404 (error code 0x80040217)") == "Dynamics answered 404 (error code 0x80040217)"


def test_log_records_are_masked_and_carry_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    install_logging()
    logger = logging.getLogger("tests.masking")
    with caplog.at_level(logging.INFO, logger="tests.masking"), request_context("req-42"):
        logger.info("created lead for %s with %s", "ada@example.com", "Bearer sekret-token")
        try:
            raise ValueError("bad address bob@example.org")
        except ValueError:
            logger.exception("failed for %s", "bob@example.org")
    first, second = caplog.records
    assert first.getMessage() == "[req-42] created lead for a***@example.com with Bearer ***"
    assert first.request_id == "req-42"  # type: ignore[attr-defined]
    text = caplog.text
    assert "ada@example.com" not in text
    assert "bob@example.org" not in text
    assert "sekret-token" not in text
    assert "b***@example.org" in (second.exc_text or "")


def test_log_records_outside_a_request_have_no_prefix(caplog: pytest.LogCaptureFixture) -> None:
    install_logging()
    with caplog.at_level(logging.INFO, logger="tests.masking"):
        logging.getLogger("tests.masking").info("plain %d", 1)
    assert caplog.records[0].getMessage() == "plain 1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET leads?$filter=emailaddress1%20eq%20'a%2Bb%40x.com'", "GET leads?$filter=emailaddress1%20eq%20'a***@x.com'"),
        ("emailaddress1 eq 'o''brien@example.com'", "emailaddress1 eq 'o***@example.com'"),
        ("jörg.müller@exämple.de wrote", "j***@exämple.de wrote"),
    ],
)
def test_when_an_address_is_encoded_quoted_or_international_it_is_still_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_when_one_address_is_masked_only_its_first_letter_and_domain_remain() -> None:
    assert mask_address(" ada@example.com ") == "a***@example.com"
    assert mask_address("not an address") == "***"
