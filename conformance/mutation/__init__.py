"""The framework mutation score: how many mutants of the installed framework's background-task code the spec
kills, next to the frameworks' own test suites.

    python -m bgtasks_conformance.mutation [--sample N --seed S | --all] [--files PATH ...] [--jobs N]
                                           [--against starlette,fastapi] [--json PATH] [--markdown PATH]

A small AST mutator of the project's own, not mutmut or cosmic-ray: those mutate a project's own source
tree in place and run that project's test command; here the target is an installed third-party package
(Starlette, FastAPI), mutated in a throwaway copy of it put first on each run's ``PYTHONPATH`` (never
writing into site-packages or the checkout), and the tests are this suite's spec against the sample app
(and, with ``--against``, each framework's own tests from its release's sdist).

Parts: ``selection`` (which functions of which files are mutated, and why), ``operators`` (the classic
mutation operators, on one AST node each), ``generate`` (the mutation sites, mutants, the lines each needs
run), ``equivalents`` (mutants that cannot change behaviour, with reasons), ``reach`` (one coverage run per
suite: which test runs which line), ``run`` (the throwaway copies and the test subprocesses), ``pytest_plugin``
(per-test coverage contexts and the selection of tests, inside those subprocesses), ``suites`` (the frameworks'
own suites in throwaway environments), ``report`` (scores per file and suite; text, JSON, Markdown), and
``__main__`` (the command).
"""
