"""Docs that are generated or indexed from the code stay in step with it."""

from __future__ import annotations

import re
from pathlib import Path

from cgmand import docgen

ROOT = Path(__file__).resolve().parents[2]


def test_config_md_knob_reference_is_current():
    """docs/config.md carries exactly the reference `make docs` generates from the knob table."""
    document = (ROOT / "docs" / "config.md").read_text()
    assert docgen.splice(document) == document, "run `make docs`"


def test_every_error_reference_is_documented():
    """Each error/refusal reference used in the code appears in docs/errors.md."""
    source = "\n".join(p.read_text() for p in (ROOT / "cgmand").rglob("*.py"))
    found = set(re.findall(r'reference(?:=|: str = | = )"([a-z0-9-]+)"', source))
    # Guard kinds are the references of the refusals they cause; failed
    # "removable" and "children-known" guards keep things as they are, reported
    # as "group-kept" and "controllers-kept" instead.
    guards = re.search(r'^NO_PROCESSES, .*= (.*)$', source, re.M).group(1)
    found |= set(re.findall(r'"([a-z-]+)"', guards)) - {"removable", "children-known"}
    found |= set(re.findall(r'"([a-z]+-kept)"', source))
    found |= set(re.findall(r'Notice\([^)]*"([a-z-]+)"\)', source, re.S))
    documented = set(re.findall(r"`([a-z0-9-]+)`", (ROOT / "docs" / "errors.md").read_text()))
    assert len(found) > 25
    assert found - documented == set()
