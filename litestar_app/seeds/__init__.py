"""The seed tutorials' endpoints (CONTRACT.md section 5), as Litestar route handlers."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from bgtasks_conformance import TargetEnv

from . import batcomputer, chapter8, gauntlet, guide, overview


def seed_handlers(env: TargetEnv) -> list[HTTPRouteHandler]:
    """Every seed endpoint; each call builds fresh task functions and a fresh database for ``env``."""
    seeds = (gauntlet, batcomputer, overview, chapter8, guide)
    return [handler for seed in seeds for handler in seed.handlers(env)]
