"""Shared fixtures: the knowledge base is loaded once per session (it is immutable)."""

from __future__ import annotations

import pytest

from guidelinekg.engine.knowledge import KnowledgeBase


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()
