"""The fast tier: ``./scripts/test --fast`` (or ``pytest -m fast``).

Everything under tests/fast is marked ``fast``.  It needs no root, no Pebble and no DNS servers,
and reaches nothing but loopback (tests/conftest.py's ``loopback_only`` guards every test).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.fast)
