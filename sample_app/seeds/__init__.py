"""The seed tutorials' endpoints, one module per tutorial (CONTRACT.md section 5).

Each module exposes ``router(env)``, and ``SEGMENTS``, the first path segment of each of its routes;
its task functions report to ``env.probe`` through ``env.observed`` and write only under ``env.data_dir``.
"""

from functools import partial

from fastapi import APIRouter

from bgtasks_conformance import TargetEnv

from ..lazy import FirstSegment
from . import batcomputer, chapter8, gauntlet, guide, overview

SEED_MODULES = (gauntlet, batcomputer, overview, chapter8, guide)


def seed_routers(env: TargetEnv) -> list[APIRouter]:
    """One router per seed tutorial, in seed order (000 to 004)."""
    return [module.router(env) for module in SEED_MODULES]


def seed_routes(env: TargetEnv) -> list[FirstSegment]:
    """The same routers, each built on the first request under one of its module's ``SEGMENTS``."""
    return [FirstSegment(module.SEGMENTS, partial(module.router, env)) for module in SEED_MODULES]
