"""Property-based fuzzing of every platform parser: whatever bytes arrive, the pipeline's entry point
(``Platform.events``) returns events or raises ``ParseError`` (the delivery is then stored as ``failed`` with the
reason, replayable); no other exception escapes.

Three kinds of input per platform: arbitrary bytes, arbitrary JSON, and the documented payloads of
``tests/support`` with leaves replaced, keys dropped and types swapped (the likeliest real-world breakage).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from souk.platforms import registry
from souk.platforms.base import ParseError
from tests.support.webhooks import fixture, fixture_names

PLATFORMS = ["whatsapp", "messenger", "instagram", "telegram", "waha", "tiktok", "chotot"]
HEADERS = {"content-type": "application/json"}
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def check(channel_type: str, body: bytes) -> None:
    platform = registry.get(channel_type)
    try:
        events = platform.events(body, HEADERS)
    except ParseError:
        return
    assert isinstance(events, list)
    # an event without a key (a payload missing the message id) is refused by the worker, its siblings are stored
    assert all(ev.key is None or isinstance(ev.key, str) for ev in events)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a JSON document."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*prefix, i))
    return found


def mutate(doc: Any, path: tuple[Any, ...], replacement: Any, drop: bool) -> Any:
    if not path:
        return replacement
    doc = json.loads(json.dumps(doc))
    node = doc
    for step in path[:-1]:
        node = node[step]
    if drop and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = replacement
    return doc


@pytest.mark.parametrize("channel_type", PLATFORMS)
@FUZZ
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes(channel_type: str, body: bytes) -> None:
    check(channel_type, body)


@pytest.mark.parametrize("channel_type", PLATFORMS)
@FUZZ
@given(value=json_values)
def test_arbitrary_json(channel_type: str, value: Any) -> None:
    check(channel_type, json.dumps(value).encode())


@pytest.mark.parametrize("channel_type", PLATFORMS)
@FUZZ
@given(data=st.data(), replacement=json_values, drop=st.booleans())
def test_documented_payloads_with_a_part_broken(
    channel_type: str, data: st.DataObject, replacement: Any, drop: bool
) -> None:
    name = data.draw(st.sampled_from(fixture_names(channel_type)))
    doc = json.loads(fixture(channel_type, name))
    path = data.draw(st.sampled_from(paths(doc)))
    check(channel_type, json.dumps(mutate(doc, path, replacement, drop)).encode())
