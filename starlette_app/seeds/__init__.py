"""The seed tutorials' endpoints (CONTRACT.md section 5), as Starlette routes."""

from __future__ import annotations

from starlette.routing import Route

from bgtasks_conformance import TargetEnv

from . import batcomputer, chapter8, gauntlet, guide, overview


def seed_routes(env: TargetEnv) -> list[Route]:
    """Every seed endpoint; each call builds fresh task functions and a fresh database for ``env``."""
    seeds = (gauntlet, batcomputer, overview, chapter8, guide)
    return [route for seed in seeds for route in seed.routes(env)]
