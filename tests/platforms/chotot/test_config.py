"""The Chotot config model: partner credentials required, products URL optional, nothing else accepted."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from souk.platforms.chotot import PLATFORM
from souk.platforms.chotot.config import ChototConfig

VALID = {"baseURL": "https://partner-chat.example", "partnerID": "partner-souk", "apiKey": "k", "accountID": "1000001"}


def test_valid_config_defaults_products_url_to_none() -> None:
    config = ChototConfig.model_validate(VALID)
    assert config.productsBaseURL is None
    assert ChototConfig.model_validate({**VALID, "productsBaseURL": "https://ads.example"}).productsBaseURL


@pytest.mark.parametrize("missing", ["baseURL", "partnerID", "apiKey", "accountID"])
def test_required_keys(missing: str) -> None:
    with pytest.raises(ValidationError) as err:
        ChototConfig.model_validate({k: v for k, v in VALID.items() if k != missing})
    assert err.value.errors()[0]["loc"] == (missing,)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        ChototConfig.model_validate({**VALID, "webhookURL": "https://x"})


def test_every_field_is_described() -> None:
    assert all(field.description for field in ChototConfig.model_fields.values())
    assert PLATFORM.config_model is ChototConfig
