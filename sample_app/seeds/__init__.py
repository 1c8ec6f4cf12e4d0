"""The seed tutorials' endpoints, one module per tutorial (CONTRACT.md section 5).

Each module exposes ``router(env)``; its task functions report to ``env.probe`` through
``env.observed`` and write only under ``env.data_dir``.
"""

from fastapi import APIRouter

from conformance import TargetEnv

from . import batcomputer, chapter8, gauntlet, guide, overview

SEED_MODULES = (gauntlet, batcomputer, overview, chapter8, guide)


def seed_routers(env: TargetEnv) -> list[APIRouter]:
    """One router per seed tutorial, in seed order (000 to 004)."""
    return [module.router(env) for module in SEED_MODULES]
