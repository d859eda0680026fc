"""Maps ``channel_type`` and vendor names to platform plugins: built-ins plus the ``souk.platforms`` entry point.

Detection follows seed 002: ``channel.vendor.name`` is authoritative, ``channel_type`` the fallback. One platform
serves a channel type and answers to one vendor name, so a channel's vendor name must be the vendor of its type
(``souk.channels.service.check_vendor``): naming another vendor cannot make a channel behave as another platform.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from souk.core.observability import log
from souk.platforms.plugin import Platform

BUILTIN = [
    "souk.platforms.whatsapp_cloud",
    "souk.platforms.waha",
    "souk.platforms.telegram",
    "souk.platforms.messenger",
    "souk.platforms.instagram",
    "souk.platforms.tiktok",
    "souk.platforms.chotot",
]
ENTRY_POINT_GROUP = "souk.platforms"

_by_type: dict[str, Platform] = {}
_by_vendor: dict[str, Platform] = {}
_loaded = False


def register(platform: Platform) -> Platform:
    replaced = _by_type.get(platform.channel_type)
    if replaced is not None and _by_vendor.get(replaced.vendor) is replaced:
        del _by_vendor[replaced.vendor]  # its vendor name must not keep pointing at a platform no type serves
    _by_type[platform.channel_type] = platform
    _by_vendor[platform.vendor] = platform
    return platform


def load() -> None:
    """Import built-in and third-party platforms once. A broken third-party plugin is logged, not fatal."""
    global _loaded
    if _loaded:
        return
    for name in BUILTIN:
        module = importlib.import_module(name)
        register(module.PLATFORM)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            register(obj() if isinstance(obj, type) else obj)
        except Exception as exc:
            log.error("platform plugin failed to load", entry_point=ep.name, error=str(exc))
    _loaded = True


def reload() -> None:
    """Forget and load again (tests that install a plugin at run time)."""
    global _loaded
    _by_type.clear()
    _by_vendor.clear()
    _loaded = False
    load()


def channel_types() -> list[str]:
    load()
    return sorted(_by_type)


def vendors() -> list[str]:
    load()
    return sorted(_by_vendor)


def get(channel_type: str) -> Platform:
    load()
    return _by_type[channel_type]


def detect(vendor_name: str | None, channel_type: str) -> Platform:
    """The plugin for a channel: by its vendor name when it has one, else by its type."""
    load()
    if vendor_name and vendor_name in _by_vendor:
        return _by_vendor[vendor_name]
    return _by_type[channel_type]
