"""Machine-readable reports: one JSON document per run, with a versioned schema."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path
from typing import Any

from .outcomes import Outcomes

SCHEMA_VERSION = 1


def build_report(outcomes: Outcomes, header: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "header": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **header,
        },
        "summary": outcomes.counts(),
        "requirements": [
            {
                "id": rid,
                "area": result.requirement.area,
                "level": result.requirement.level.value,
                "sentence": result.requirement.sentence,
                "outcome": result.outcome,
                "tests": result.tests,
                "observed": result.observed,
                "details": result.details,
            }
            for rid, result in sorted(outcomes.results.items())
        ],
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
