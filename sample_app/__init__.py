"""The bundled reference implementation: the seed tutorials' endpoints and the contract's routes."""

from .app import create_app

# Capabilities still being built (each area's author removes its own entry when its routes exist).
create_app.conformance_lacks = {  # type: ignore[attr-defined]
}

__all__ = ["create_app"]
