"""ISO 4217 currency codes and their minor units, so prices are validated and rounded per currency.

The list is the active ISO 4217 table (no dependency ships it with the project); a code not here is refused.
"""

from __future__ import annotations

from decimal import Decimal

_THREE = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_ZERO = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF",
         "XOF", "XPF"}  # fmt: skip
_TWO = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BMD", "BND",
    "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP", "CVE", "CZK",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK",
    "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON",
    "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD",
    "YER", "ZAR", "ZMW", "ZWG",
]  # fmt: skip

MINOR_UNITS: dict[str, int] = {**dict.fromkeys(_TWO, 2), **dict.fromkeys(_ZERO, 0), **dict.fromkeys(_THREE, 3)}


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def quantum(code: str) -> Decimal:
    """The smallest amount of ``code`` (0.01 for USD, 1 for JPY, 0.001 for KWD)."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(code, 2))
