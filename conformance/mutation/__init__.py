"""The framework mutation score: how many mutants of the installed framework's background-task code the spec kills.

    python -m bgtasks_conformance.mutation [--sample N --seed S] [--files PATH ...] [--jobs N] [--timeout S]
                                           [--json PATH]

A small AST mutator of the project's own, not mutmut or cosmic-ray: those mutate a project's own source
tree in place and run that project's test command; here the target is an installed third-party package
(Starlette, FastAPI), mutated in a throwaway copy of it put first on each run's ``PYTHONPATH`` (never
writing into site-packages or the checkout), and the "tests" are this suite's spec against the sample app.

Parts: ``operators`` (the classic mutation operators, on one AST node each), ``generate`` (the mutation
sites of the target files, mutants and the equivalent ones), ``run`` (the throwaway copies and the spec's
subprocesses), ``report`` (scores per file, survivors, JSON and the terminal table), ``__main__`` (the command).
"""
