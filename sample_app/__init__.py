"""The bundled reference implementation: the seed tutorials' endpoints and the contract's routes."""

from .app import create_app
from .groups import FRONTEND

# Known upstream deviations by framework version (see the file; shown in the version matrix).
create_app.conformance_expectations = "expectations.toml"  # type: ignore[attr-defined]

# Capabilities still being built (each area's author removes its own entry when its routes exist).
create_app.conformance_lacks = {  # type: ignore[attr-defined]
}
if not FRONTEND:
    create_app.conformance_lacks["frontend-routes"] = (  # type: ignore[attr-defined]
        "this FastAPI release has no frontend() route group (APIRouter.frontend)")

__all__ = ["create_app"]
