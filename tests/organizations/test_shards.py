"""Sharding: every organization has exactly one shard for N = 1..8, any tool computes the same
split, and growing or shrinking the StatefulSet moves only some of them."""

from __future__ import annotations

import hashlib

import pytest

from docusign_input.errors import ConfigError
from docusign_input.sharding import Shard, parse_shard, shard_of

NAMES = [f"customer-{i:04d}" for i in range(1000)]


def test_the_split_is_the_documented_formula():
    for name in NAMES[:50]:
        expected = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
        assert shard_of(name, 7) == expected % 7
    # a fixed value, so a change of the formula cannot pass unnoticed
    assert [shard_of(n, 5) for n in ("acme", "globex", "initech")] == [
        int.from_bytes(hashlib.sha256(n.encode()).digest()[:8], "big") % 5
        for n in ("acme", "globex", "initech")]


@pytest.mark.parametrize("count", range(1, 9))
def test_every_organization_has_exactly_one_shard(count):
    taken = {name: [i for i in range(count) if Shard(i, count).takes(name)] for name in NAMES}
    assert all(len(shards) == 1 for shards in taken.values())
    sizes = [sum(1 for s in taken.values() if s == [i]) for i in range(count)]
    assert sum(sizes) == len(NAMES)
    assert min(sizes) > 0.7 * len(NAMES) / count  # roughly even


def test_how_many_move_when_n_changes():
    """Modulo hashing: from N to N+1 about N/(N+1) of the organizations change shard (a resize
    is a reshuffle, which the per-organization lock makes safe); recorded in the contract."""
    moved = {}
    for count in range(1, 8):
        moved[count] = sum(shard_of(n, count) != shard_of(n, count + 1) for n in NAMES)
        expected = len(NAMES) * count / (count + 1)
        assert abs(moved[count] - expected) < 0.1 * len(NAMES), moved
    assert moved[1] > 400  # 1 -> 2: about half move


def test_auto_takes_the_ordinal_of_the_host_name():
    assert parse_shard("auto", label="DOCUSIGN_SHARD", shards="4",
                       hostname="docusign-input-3") == Shard(3, 4)
    assert parse_shard("2/5", label="--shard", shards=None, hostname="x") == Shard(2, 5)
    assert parse_shard(None, label="--shard", shards=None, hostname="x") == Shard(0, 1)


@pytest.mark.parametrize("text,shards,host,says", [
    ("auto", "4", "laptop", "does not end with an ordinal"),
    ("auto", "3", "docusign-input-3", "gives shard 3, but DOCUSIGN_SHARDS is 3"),
    ("auto", None, "docusign-input-0", "DOCUSIGN_SHARDS is not set"),
    ("3/3", None, "x", "is not a shard"),
    ("one/two", None, "x", "is not a shard"),
])
def test_bad_shards_are_configuration_errors(text, shards, host, says):
    with pytest.raises(ConfigError) as caught:
        parse_shard(text, label="DOCUSIGN_SHARD", shards=shards, hostname=host)
    assert says in caught.value.cause
    assert caught.value.exit_code == 78
