"""The hypothesis profiles the suite registers; the spec runs with ``bgtasks-fast`` unless another is named."""

from __future__ import annotations

from typing import Any

HYPOTHESIS_PROFILES: dict[str, dict[str, Any]] = {
    "bgtasks-fast": {"max_examples": 10},  # a few examples per property, new ones every run
    "bgtasks-thorough": {"max_examples": 200, "derandomize": True},  # CI: many, the same every run
}
DEFAULT_HYPOTHESIS_PROFILE = "bgtasks-fast"


def register_profiles() -> None:
    from hypothesis import settings

    for name, values in HYPOTHESIS_PROFILES.items():
        settings.register_profile(name, deadline=None, database=None, print_blob=True, **values)


def check_profile_name(name: str | None) -> str | None:
    """A problem with ``--hypothesis-profile NAME`` when it names a suite profile that does not exist."""
    if name and name.startswith("bgtasks-") and name not in HYPOTHESIS_PROFILES:
        return (f"--hypothesis-profile {name!r}: the suite's profiles are {', '.join(HYPOTHESIS_PROFILES)}")
    return None


def current_profile() -> str:
    """The name of hypothesis's loaded profile (``settings.get_current_profile_name`` where hypothesis has it)."""
    from hypothesis import settings

    named = getattr(settings, "get_current_profile_name", None)
    return str(named() if named is not None else getattr(settings, "_current_profile", "default"))


def unknown_profile(name: str | None) -> str | None:
    """One line for ``--hypothesis-profile NAME`` naming no registered profile (the suite's are registered here)."""
    if not name:
        return None
    from hypothesis import settings
    from hypothesis.errors import InvalidArgument

    register_profiles()
    try:
        settings.get_profile(name)
    except InvalidArgument:
        known = ", ".join(sorted(getattr(settings, "_profiles", HYPOTHESIS_PROFILES)))
        return (check_profile_name(name) or f"--hypothesis-profile {name!r}: no such profile") + \
            f"; registered profiles: {known}"
    return None
