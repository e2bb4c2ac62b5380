"""Step-up (RFC 9470): too weak, too old or bound elsewhere raises with acr_values and max_age."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from onestop.config import Environment, Settings
from onestop.engine.dev.faces import DevFaceMatcher
from onestop.engine.dev.idp import DevCitizen, DevIdentityProvider, DevSigningKey
from onestop.engine.identity.jwks import InProcessJwksSource
from onestop.engine.identity.principal import Principal
from onestop.engine.identity.stepup import (
    AssuranceLadder,
    InsufficientAuthentication,
    challenge_header,
    require_assurance,
)
from onestop.engine.identity.tokens import TokenVerifier

BASIC, STANDARD, FACE = "urn:onestop:acr:basic", "urn:onestop:acr:standard", "urn:onestop:acr:face"
LADDER = AssuranceLadder.of([("basic", BASIC), ("standard", STANDARD), ("face", FACE)])
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def principal(acr: str, *, age: timedelta = timedelta(0), txn: str | None = None) -> Principal:
    return Principal(sub="s", kind="citizen", acr=acr, amr=("face",) if acr == FACE else ("pwd",),
                     auth_time=NOW - age, txn=txn)


def check(who: Principal, level: str, max_age: timedelta | None = None, binding: str | None = None) -> None:
    require_assurance(who, level=level, rank_of=LADDER.rank_of, acr_of=LADDER.acr_of, max_age=max_age,
                      now=NOW, binding=binding)


@pytest.mark.parametrize(("acr", "level"), [(BASIC, "standard"), (BASIC, "face"), (STANDARD, "face")])
def test_token_below_the_level_is_challenged(acr: str, level: str) -> None:
    with pytest.raises(InsufficientAuthentication) as info:
        check(principal(acr), level, timedelta(minutes=5))
    assert info.value.code == "INSUFFICIENT_USER_AUTHENTICATION"
    assert info.value.reason == "acr"
    assert info.value.acr_values == LADDER.acr_of(level)
    assert info.value.max_age == 300


@pytest.mark.parametrize(("acr", "level"), [(STANDARD, "standard"), (FACE, "standard"), (FACE, "face"),
                                            (BASIC, "basic")])
def test_token_at_or_above_the_level_passes(acr: str, level: str) -> None:
    check(principal(acr), level)


def test_unknown_acr_ranks_below_everything() -> None:
    with pytest.raises(InsufficientAuthentication) as info:
        check(principal("urn:somebody-else:acr:platinum"), "basic")
    assert info.value.acr_values == BASIC


def test_stale_auth_time_is_challenged_with_max_age() -> None:
    with pytest.raises(InsufficientAuthentication) as info:
        check(principal(FACE, age=timedelta(minutes=6)), "face", timedelta(minutes=5))
    assert info.value.reason == "max_age"
    assert info.value.acr_values == FACE
    assert info.value.max_age == 300


def test_auth_time_exactly_at_max_age_passes() -> None:
    check(principal(FACE, age=timedelta(minutes=5)), "face", timedelta(minutes=5))


def test_max_age_in_seconds_is_accepted() -> None:
    with pytest.raises(InsufficientAuthentication) as info:
        check(principal(STANDARD, age=timedelta(seconds=61)), "standard", 60)
    assert info.value.max_age == 60


@pytest.mark.parametrize("txn", [None, "app-1:other-step", "app-2:face-check"])
def test_face_token_bound_to_another_transaction_is_challenged(txn: str | None) -> None:
    with pytest.raises(InsufficientAuthentication) as info:
        check(principal(FACE, txn=txn), "face", timedelta(minutes=5), binding="app-1:face-check")
    assert info.value.reason == "binding"
    assert info.value.binding == "app-1:face-check"
    assert info.value.extensions == {"code": "INSUFFICIENT_USER_AUTHENTICATION", "acr_values": FACE,
                                     "reason": "binding", "max_age": 300, "binding": "app-1:face-check"}


def test_fresh_bound_face_token_passes() -> None:
    check(principal(FACE, age=timedelta(seconds=20), txn="app-1:face-check"), "face", timedelta(minutes=5),
          binding="app-1:face-check")


def test_required_level_can_be_given_as_acr_values() -> None:
    with pytest.raises(InsufficientAuthentication) as info:
        require_assurance(principal(BASIC), acr_values=STANDARD, rank_of=LADDER.rank_of, max_age=None, now=NOW)
    assert info.value.acr_values == STANDARD
    assert info.value.max_age is None
    assert "max_age" not in info.value.extensions


def test_exactly_one_way_of_naming_the_level() -> None:
    with pytest.raises(TypeError):
        require_assurance(principal(FACE), rank_of=LADDER.rank_of, now=NOW)
    with pytest.raises(TypeError):
        require_assurance(principal(FACE), level="face", acr_values=FACE, acr_of=LADDER.acr_of,
                          rank_of=LADDER.rank_of, now=NOW)


def test_required_level_off_the_ladder_is_a_definitions_bug() -> None:
    with pytest.raises(KeyError):
        check(principal(FACE), "platinum")
    with pytest.raises(ValueError, match="not on the assurance ladder"):
        require_assurance(principal(FACE), acr_values="urn:x", rank_of=LADDER.rank_of, now=NOW)


def test_challenge_header_follows_rfc_9470() -> None:
    assert challenge_header(FACE, 300, 'needs "face"') == (
        'Bearer error="insufficient_user_authentication", error_description="needs \'face\'", '
        f'acr_values="{FACE}", max_age="300"'
    )
    assert "max_age" not in challenge_header(STANDARD)


def test_exception_renders_its_own_challenge() -> None:
    with pytest.raises(InsufficientAuthentication) as info:
        check(principal(BASIC), "face", timedelta(minutes=2))
    header = info.value.www_authenticate()
    assert 'error="insufficient_user_authentication"' in header
    assert f'acr_values="{FACE}"' in header
    assert 'max_age="120"' in header


def test_ladder_refuses_duplicate_levels() -> None:
    with pytest.raises(ValueError, match="unique"):
        AssuranceLadder.of([("basic", BASIC), ("basic", STANDARD)])
    assert LADDER.top.acr == FACE
    assert LADDER.level_for_acr(STANDARD) == LADDER.level("standard")


@pytest.fixture
async def idp_client(tmp_path: Path) -> AsyncIterator[tuple[DevIdentityProvider, httpx.AsyncClient]]:
    settings = Settings(env=Environment.DEVELOPMENT, data_dir=tmp_path)
    citizen = DevCitizen(id="chan", name_en="CHAN", name_zh=None, date_of_birth=datetime(1980, 1, 1).date(),
                         face_consented_at=NOW - timedelta(days=30))
    idp = DevIdentityProvider(settings, LADDER, [citizen], [], DevFaceMatcher(), DevSigningKey.generate())
    transport = httpx.ASGITransport(app=Starlette(routes=[Mount("/dev-idp", app=idp.app)]))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield idp, client


async def test_standard_token_is_challenged_and_a_fresh_face_token_passes(
    idp_client: tuple[DevIdentityProvider, httpx.AsyncClient],
) -> None:
    """The end-to-end story: the challenge names the level, the client re-authenticates, the retry passes."""
    idp, client = idp_client
    verifier = TokenVerifier.from_source(InProcessJwksSource(idp.jwks), issuer=idp.issuer, audience=idp.audience)
    binding = "application-7:identity-check"

    def require(who: Principal) -> None:
        require_assurance(who, level="face", rank_of=LADDER.rank_of, acr_of=LADDER.acr_of,
                          max_age=timedelta(minutes=5), now=datetime.now(UTC), binding=binding)

    weak = await client.post("/dev-idp/token", json={"citizen": "chan", "acr": STANDARD})
    with pytest.raises(InsufficientAuthentication) as info:
        require(await verifier.verify(weak.json()["access_token"]))
    challenge = info.value

    selfie = DevFaceMatcher().sample_for("chan")
    unbound = await client.post("/dev-idp/token", json={"citizen": "chan", "acr": challenge.acr_values,
                                                        "selfie": selfie})
    with pytest.raises(InsufficientAuthentication) as replay:
        require(await verifier.verify(unbound.json()["access_token"]))
    assert replay.value.reason == "binding"

    strong = await client.post("/dev-idp/token", json={"citizen": "chan", "acr": challenge.acr_values,
                                                       "selfie": selfie, "binding": challenge.binding})
    require(await verifier.verify(strong.json()["access_token"]))


async def test_face_token_older_than_max_age_is_challenged(
    idp_client: tuple[DevIdentityProvider, httpx.AsyncClient],
) -> None:
    idp, client = idp_client
    idp._clock = lambda: datetime.now(UTC) - timedelta(minutes=10)  # signed in 10 minutes ago, token still valid
    verifier = TokenVerifier.from_source(InProcessJwksSource(idp.jwks), issuer=idp.issuer, audience=idp.audience)
    response = await client.post("/dev-idp/token", json={
        "citizen": "chan", "acr": FACE, "selfie": DevFaceMatcher().sample_for("chan")})
    who = await verifier.verify(response.json()["access_token"])
    with pytest.raises(InsufficientAuthentication) as info:
        require_assurance(who, level="face", rank_of=LADDER.rank_of, acr_of=LADDER.acr_of,
                          max_age=timedelta(minutes=5), now=datetime.now(UTC))
    assert info.value.reason == "max_age"
    assert info.value.max_age == 300


def test_the_ladder_looks_levels_up_as_it_ranks_them() -> None:
    ladder = AssuranceLadder.of([("basic", "urn:a"), ("standard", "urn:b"), ("face", "urn:c")])
    assert [ladder.rank_of(acr) for acr in ("urn:a", "urn:b", "urn:c", "urn:x", None, "")] == [0, 1, 2, None, None,
                                                                                             None]
    found = ladder.level_for_acr("urn:b")
    assert found is not None
    assert (found.id, found.acr) == ("standard", "urn:b")
    assert ladder.level_for_acr("urn:x") is None
    assert ladder.level_for_acr(None) is None
    level = ladder.level("face")
    assert level is not None
    assert level.acr == "urn:c"
    assert ladder.level("nope") is None
    assert ladder.ids == ("basic", "standard", "face")
    assert ladder.acrs == ("urn:a", "urn:b", "urn:c")
    assert ladder.rank("standard") == 1
    assert ladder.acr_of("basic") == "urn:a"
    assert ladder == AssuranceLadder.of([("basic", "urn:a"), ("standard", "urn:b"), ("face", "urn:c")])
