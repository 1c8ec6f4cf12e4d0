"""Repository-level pytest configuration: only what the project's own test run needs.

The suite is the installed ``bgtasks_conformance`` package (tox installs the wheel); its folders here
(``spec/``, ``conformance/``, ...) are its sources and are never collected from the checkout: the spec
runs as ``pytest --pyargs bgtasks_conformance.spec``.
"""

collect_ignore = ["spec", "conformance", "sample_app", "starlette_app", "tools"]
