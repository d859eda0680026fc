"""Phone numbers normalized to E.164 with ``phonenumbers``: the key that ties identities across channels."""

from __future__ import annotations

import phonenumbers


def normalize_phone(raw: str | None, default_region: str | None = None) -> str | None:
    """``raw`` as E.164 (``+201001234567``), or None when it is not a possible number.

    Platform ids like WhatsApp's ``201001234567`` carry no ``+``; digits-only input of 8+ digits is read as
    international before falling back to the tenant's region.
    """
    if not raw:
        return None
    text = raw.strip()
    candidates = [text]
    digits = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and len(digits) >= 8 and default_region is None:
        candidates = ["+" + digits]
    elif not text.startswith("+") and len(digits) >= 11:
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None if candidate.startswith("+") else default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None
