"""Which tests execute which lines of the target files: one run of a suite under coverage, on the unmutated
framework, each test in its own coverage context. A mutant then runs only the tests that execute its lines,
the fastest first; a mutant no test reaches is not run at all (it survives, as "not reached").
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bgtasks_conformance.mutation.generate import Mutant, framework_root, round_trip
from bgtasks_conformance.mutation.run import PYTEST, Suite, _run, copy_framework, suite_env

# The context of lines run outside any test: at import, collection, or a session's start (the spec's preflight
# requests to the target): every run of the suite runs them, so its fastest test is enough to run such a line.
OUTSIDE = ""


@dataclass
class Reach:
    """A suite's map: ``lines[file][line]`` is the set of test ids that run it; each test's seconds and outcome."""

    suite: str
    lines: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    wall: float = 0.0

    def tests_for(self, file: str, lines: tuple[int, ...]) -> list[str]:
        """The passing tests that run any of ``lines`` of ``file``, the fastest first; empty when none does. A line
        run only outside tests (see OUTSIDE) gets the suite's fastest passing test: any run runs that line."""
        chosen: set[str] = set()
        for line in lines:
            chosen |= self.lines.get(file, {}).get(line, set())
        outside = OUTSIDE in chosen
        chosen = (chosen & set(self.seconds)) - self.failed
        passing = sorted(set(self.seconds) - self.failed, key=lambda test: (self.seconds[test], test))
        if outside and not chosen and passing:
            return passing[:1]
        return sorted(chosen, key=lambda test: (self.seconds[test], test))

    def tests_for_mutant(self, mutant: Mutant) -> tuple[list[str], bool]:
        """The tests to run on ``mutant`` and whether they were chosen by its function: the tests that run its
        lines; when coverage recorded none of them, the tests that run its innermost function. Coverage can miss
        lines that do run (on Python 3.11, the lines after an anyio task group's exit inside a nested function),
        which would leave such a mutant "not reached" without a test run; a line no test runs at all still
        gets the function's tests only if they reach the function, and every suite is treated alike."""
        tests = self.tests_for(mutant.file, mutant.lines)
        if tests or not mutant.enclosing:
            return tests, False
        by_function = self.tests_for(mutant.file, mutant.enclosing)
        return by_function, bool(by_function)

    def to_json(self) -> dict[str, object]:
        return {"suite": self.suite, "wall": self.wall, "seconds": self.seconds, "failed": sorted(self.failed),
                "lines": {file: {str(line): sorted(tests) for line, tests in lines.items()}
                          for file, lines in self.lines.items()}}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Reach:
        lines = data["lines"]
        assert isinstance(lines, dict)
        return cls(suite=str(data["suite"]), wall=float(data["wall"]),  # type: ignore[arg-type]
                   seconds=dict(data["seconds"]), failed=set(data["failed"]),  # type: ignore[call-overload]
                   lines={file: {int(line): set(tests) for line, tests in by_line.items()}
                          for file, by_line in lines.items()})


def measure(suite: Suite, files: list[str], timeout: float) -> Reach:
    """Runs the whole suite once under coverage and maps the lines of ``files``; also the baseline.

    The framework is the unmutated one, its target files round-tripped through the AST in a throwaway copy
    first on ``PYTHONPATH``, as every mutant is: a test failing there fails without any mutant, and is excluded
    (``failed``). The round-tripped lines are mapped back to the installed files' lines.
    """
    from coverage import CoverageData

    started = time.monotonic()
    trips = {file: round_trip((framework_root(file) / file).read_text(encoding="utf-8")) for file in files}
    with tempfile.TemporaryDirectory(prefix="bgtasks-reach-") as tmp:
        root = Path(tmp)
        work, data_file, record = root / "work", root / "coverage.data", root / "tests.jsonl"
        work.mkdir()
        copy = root / "framework"
        copy_framework({file: text for file, (text, _) in trips.items()}, copy)
        include = "".join(f"    */{file}\n" for file in files)
        rc = root / "coveragerc"
        rc.write_text(f"[run]\ndata_file = {data_file}\ninclude =\n{include}", encoding="utf-8")
        # COVERAGE_FILE (tox sets it) would override the data file of the rc file
        env = suite_env(suite, root, copy.resolve(), {"BGTASKS_MUTATION_RECORD": str(record),
                                                       "COVERAGE_FILE": str(data_file)})
        command = [suite.python, "-m", "coverage", "run", f"--rcfile={rc}", *PYTEST, *suite.args]
        code, output = _run(command, suite.cwd or work, env, timeout)
        if code is None:
            raise SystemExit(f"bgtasks mutation: the {suite.name} suite's coverage run exceeded {timeout:g} s; "
                             "raise --timeout")
        if not record.is_file():
            tail = "\n".join(output.splitlines()[-15:])
            raise SystemExit(f"bgtasks mutation: the {suite.name} suite ran no test under coverage "
                             f"(exit {code}):\n{tail}")
        reach = Reach(suite=suite.name)
        for line in record.read_text(encoding="utf-8").splitlines():
            test = json.loads(line)
            reach.seconds[test["id"]] = reach.seconds.get(test["id"], 0.0) + test["seconds"]
            if test["failed"]:
                reach.failed.add(test["id"])
        data = CoverageData(basename=str(data_file))
        data.read()
        for measured in data.measured_files():
            target = next((file for file in files if measured.replace("\\", "/").endswith("/" + file)), None)
            if target is None or not measured.startswith(str(copy.resolve())):
                continue
            by_line = reach.lines.setdefault(target, {})
            for number, contexts in data.contexts_by_lineno(measured).items():
                for original in trips[target][1].get(number, ()):
                    by_line.setdefault(original, set()).update(contexts)
    if not any(reach.lines.values()):
        raise SystemExit(f"bgtasks mutation: the {suite.name} suite's coverage run measured no line of "
                         f"{', '.join(files)} in the framework copy (exit {code}); is coverage installed where the "
                         "suite runs, and does the suite import the framework from PYTHONPATH?")
    reach.wall = round(time.monotonic() - started, 2)
    return reach
