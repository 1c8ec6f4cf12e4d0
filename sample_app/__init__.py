"""The bundled reference implementation: the seed tutorials' endpoints and the contract's routes."""

from .app import create_app

__all__ = ["create_app"]
