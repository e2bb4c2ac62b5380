"""Settings for CORS and rate limits: read from the environment, bad values fail with the variable's name."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from onestop.config import DEV_CORS_ORIGIN_REGEX, Environment, Settings


@pytest.mark.parametrize("value", [
    "https://app.onestop.gov.hk,http://localhost:3000",
    " https://app.onestop.gov.hk , http://localhost:3000 ,",
    '["https://app.onestop.gov.hk", "http://localhost:3000"]',
])
def test_cors_origins_are_read_comma_separated_or_as_a_json_list(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_CORS_ORIGINS", value)
    assert Settings().cors_origins == ["https://app.onestop.gov.hk", "http://localhost:3000"]


@pytest.mark.parametrize("origin", ["https://app.onestop.gov.hk/", "app.onestop.gov.hk", "https://a.example/graphql",
                                    "ftp://a.example"])
def test_a_cors_entry_that_is_not_an_origin_names_the_setting(origin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_CORS_ORIGINS", origin)
    with pytest.raises(ValidationError, match=re.escape(f"ONESTOP_CORS_ORIGINS: {origin!r} is not an origin")):
        Settings()


def test_a_broken_json_list_of_origins_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_CORS_ORIGINS", '["https://a.example"')
    with pytest.raises(ValidationError, match="ONESTOP_CORS_ORIGINS is not a valid JSON list"):
        Settings()


def test_no_cors_by_default_in_production_and_localhost_in_development() -> None:
    assert Settings(env=Environment.PRODUCTION).cors_origin_regex is None
    assert Settings(env=Environment.PRODUCTION).cors_origins == []
    assert Settings(env=Environment.DEVELOPMENT).cors_origin_regex == DEV_CORS_ORIGIN_REGEX
    assert Settings(env=Environment.DEVELOPMENT, cors_origins=["https://a.example"]).cors_origin_regex is None


@pytest.mark.parametrize(("origin", "allowed"), [
    ("http://localhost:5173", True), ("https://127.0.0.1:8443", True), ("http://[::1]:3000", True),
    ("http://localhost", True), ("http://localhost.evil.example", False), ("http://evil.example/localhost", False),
    ("http://localhost:5173@evil.example", False),
])
def test_the_development_origin_pattern_matches_only_loopback(origin: str, allowed: bool) -> None:
    assert bool(re.fullmatch(DEV_CORS_ORIGIN_REGEX, origin)) is allowed


def test_rate_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_RATE_LIMIT_PER_MINUTE", "120")
    monkeypatch.setenv("ONESTOP_RATE_LIMIT_BURST", "20")
    monkeypatch.setenv("ONESTOP_TOKEN_RATE_LIMIT_PER_MINUTE", "0")
    config = Settings()
    assert (config.rate_limit_per_minute, config.rate_limit_burst, config.token_rate_limit_per_minute) == (120, 20, 0)


def test_a_negative_rate_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_RATE_LIMIT_PER_MINUTE", "-1")
    with pytest.raises(ValidationError, match="rate_limit_per_minute"):
        Settings()
