"""The project's own package named conformance."""

OWNER = "the user project"
