"""The `status --json` reference (docs/status.schema.json), and checking documents against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "status.schema.json"


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def validate(document: object) -> None:
    """Raises jsonschema.ValidationError for a key the reference does not document (every object
    there allows no other keys), a missing key, or a value of another type. Checked as printed:
    through JSON, as a script reads it."""
    printed = json.loads(json.dumps(document))
    jsonschema.Draft202012Validator(schema()).validate(printed)
