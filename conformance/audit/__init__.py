"""The audit of a team's own application: ``bgtasks-conformance --bgtasks-app MODULE:ATTR``.

Instead of the spec's synthetic routes, the run discovers the app's endpoints (:mod:`.routes`), calls each one
through the raw ASGI driver with requests generated from its OpenAPI schema (:mod:`.generate`) and the team's
example requests (:mod:`.examples`), watches the framework's task machinery meanwhile (:mod:`.instrument`,
patched only for the duration of each call) and turns what it saw into findings per endpoint (:mod:`.checks`),
one pytest item per endpoint and check (:mod:`.plugin`), so the outcomes, reports and ``compare`` are the spec's.

Why hypothesis-jsonschema and not schemathesis: the suite already uses hypothesis; hypothesis-jsonschema adds
one small pure-Python package (and jsonschema) that turns a JSON schema into a strategy, nothing more.
Schemathesis is a whole API-testing tool (its own runner, CLI, HTTP transports, checks, reporting and many
dependencies) of which the audit would use only the data generation; its runner would not go through the raw
ASGI timeline the audit needs. Generation is derandomised, so two runs of the same app send the same requests
and ``compare`` sees the framework's change, not the generator's.
"""
