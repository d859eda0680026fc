"""Tiktok-Signature: HMAC-SHA256(appSecret, "<t>.<raw body>"), with a replay window."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from souk.platforms.base import SignatureError
from souk.platforms.tiktok import PLATFORM
from souk.platforms.tiktok.verify import sign

SECRET = "fake-tiktok-app-secret"
BODY = (Path(__file__).parent / "fixtures" / "im_receive_msg_text.json").read_bytes()
NOW = datetime(2024, 11, 24, 12, 6, 40, tzinfo=UTC)
T = int(NOW.timestamp())


def verify(
    headers: dict[str, str],
    *,
    secrets: dict[str, str] | None = None,
    config: dict[str, object] | None = None,
    body: bytes = BODY,
    now: datetime = NOW,
) -> None:
    if secrets is None:
        secrets = {"appSecret": SECRET, "accessToken": "act", "webhookSecret": "w"}
    PLATFORM.verify(config=config or {}, secrets=secrets, headers=headers, body=body, now=now)


def test_valid_signature_passes() -> None:
    digest = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"t={T},s={digest}"
    verify({"tiktok-signature": f"t={T},s={digest}"})
    verify({"tiktok-signature": f" t={T} , s={digest.upper()} "})  # spacing and hex case do not matter


def test_signature_within_the_tolerance_passes() -> None:
    verify({"tiktok-signature": sign(SECRET, T - 299, BODY)})
    verify({"tiktok-signature": sign(SECRET, T + 299, BODY)})


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (sign("another-secret", T, BODY), "does not match"),
        (sign(SECRET, T, BODY + b" "), "does not match"),  # the body was altered
        (
            sign(SECRET, T + 1, BODY).replace(f"t={T + 1}", f"t={T}"),
            "does not match",
        ),  # the timestamp was altered
        (f"t={T}", "malformed"),
        (f"s={'0' * 64}", "malformed"),
        (f"t=abc,s={'0' * 64}", "malformed"),
        (f"t={T},s=xyz", "malformed"),
        ("garbage", "malformed"),
    ],
)
def test_forged_or_malformed_signature_is_rejected(header: str, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason) as caught:
        verify({"tiktok-signature": header})
    assert caught.value.status == 401


def test_missing_header_is_rejected() -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify({})


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_stale_signature_is_rejected(skew: int) -> None:
    with pytest.raises(SignatureError, match="stale"):
        verify({"tiktok-signature": sign(SECRET, T - skew, BODY)})


def test_tolerance_comes_from_the_channel_config() -> None:
    header = {"tiktok-signature": sign(SECRET, T - 30, BODY)}
    verify(header, config={"signatureToleranceSeconds": 60})
    with pytest.raises(SignatureError, match="stale"):
        verify(header, config={"signatureToleranceSeconds": 10})
    verify(header, now=NOW + timedelta(seconds=200))


def test_channel_without_app_secret_is_rejected() -> None:
    with pytest.raises(SignatureError, match="appSecret") as caught:
        verify({"tiktok-signature": sign(SECRET, T, BODY)}, secrets={"accessToken": "act"})
    assert caught.value.status == 401
