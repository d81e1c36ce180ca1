"""Fixtures of the reliability campaigns (the helpers live in campaign.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from campaign import SecretScanner  # noqa: E402


@pytest.fixture
def scanner() -> SecretScanner:
    return SecretScanner()
