"""How the runtime configures the web app: keys, cookies, where the API and the identity provider are."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from onestop.config import Environment, Settings
from onestop.runtime import web_config

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")


def test_production_needs_a_session_key_and_says_which(tmp_path: Path) -> None:
    settings = Settings(env=Environment.PRODUCTION, data_dir=tmp_path, api_url="https://api.example.gov.hk",
                        oidc_issuer="https://id.example.gov.hk")
    with pytest.raises(ValueError, match="ONESTOP_SESSION_KEY"):
        web_config(settings)


def test_production_cookies_are_secure_and_the_issuer_is_the_configured_one(tmp_path: Path) -> None:
    settings = Settings(env=Environment.PRODUCTION, data_dir=tmp_path, api_url="https://api.example.gov.hk/",
                        oidc_issuer="https://id.example.gov.hk", session_key=KEY)
    config = web_config(settings)
    assert config.secure_cookies
    assert config.api_url == "https://api.example.gov.hk"
    assert config.issuer == "https://id.example.gov.hk"
    assert config.session_key == bytes(range(32))


def test_development_uses_the_dev_idp_beside_the_api_and_creates_its_key(tmp_path: Path) -> None:
    settings = Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path, api_url="http://127.0.0.1:9000")
    config = web_config(settings)
    assert not config.secure_cookies
    assert config.issuer == "http://127.0.0.1:9000/dev-idp"
    assert (tmp_path / "keys" / "session_key.key").exists()
