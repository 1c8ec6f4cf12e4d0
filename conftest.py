"""Repository-level pytest configuration: only what the project's own test run needs.

The conformance harness itself is the ``conformance.plugin`` entry point; nothing here is
needed to run the spec against a target.
"""

pytest_plugins = ["pytester"]
