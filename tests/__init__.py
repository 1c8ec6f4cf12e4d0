"""The harness's own tests: they check conformance/, not a target."""
