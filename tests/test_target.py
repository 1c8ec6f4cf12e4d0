"""Choosing, importing, checking and building the target: every problem is one clear TargetError."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bgtasks_conformance import Probe, TargetEnv
from bgtasks_conformance.target.loader import (
    DEFAULT_TARGET,
    ENV_VAR,
    Target,
    TargetChoice,
    TargetError,
    choose_target,
    load_target,
)

from .conftest import MakeModule

Load = Callable[[str], Target]

EMAIL_MODEL = """
    from pydantic import BaseModel, EmailStr

    class Subscriber(BaseModel):
        email: EmailStr

    def create_app(env):
        return None
"""


def env_for(tmp_path: Path) -> TargetEnv:
    return TargetEnv(Probe(), tmp_path)


def choice(spec: str) -> TargetChoice:
    return TargetChoice(spec, "--bgtasks-target option")


def error_of(spec: str) -> str:
    with pytest.raises(TargetError) as caught:
        load_target(choice(spec))
    return str(caught.value)


# -- choosing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "environ", "ini", "expected"),
    [
        ("a:f", {ENV_VAR: "b:f"}, "c:f", TargetChoice("a:f", "--bgtasks-target option")),
        (None, {ENV_VAR: "b:f"}, "c:f", TargetChoice("b:f", f"{ENV_VAR} environment variable")),
        (None, {ENV_VAR: ""}, "c:f", TargetChoice("c:f", "bgtasks_target ini key")),
        (None, {}, "c:f", TargetChoice("c:f", "bgtasks_target ini key")),
        (None, {}, None, TargetChoice(DEFAULT_TARGET, "default: the bundled sample app")),
        ("", {}, "", TargetChoice(DEFAULT_TARGET, "default: the bundled sample app")),
    ],
)
def test_precedence(
    option: str | None, environ: dict[str, str], ini: str | None, expected: TargetChoice
) -> None:
    assert choose_target(option, ini, environ) == expected


# -- importing --------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["sample_app", "sample_app:", ":create_app", ""])
def test_a_target_without_module_and_attribute_is_refused(spec: str) -> None:
    message = error_of(spec)
    assert "is not of the form MODULE:ATTRIBUTE" in message
    assert "--bgtasks-target myapp.main:create_app" in message


def test_a_module_that_does_not_exist(make_module: MakeModule) -> None:
    message = error_of("no_such_module_here:create_app")
    assert "cannot import module 'no_such_module_here'" in message
    assert "run pytest from the directory that contains it" in message


def test_a_package_whose_submodule_does_not_exist(make_module: MakeModule) -> None:
    make_module("pkgless", "")
    message = error_of("pkgless.main:create_app")
    assert "cannot import module 'pkgless.main'" in message


def test_a_module_that_imports_something_missing(make_module: MakeModule) -> None:
    make_module("needs_dep", "import not_installed_dependency_xyz\n")
    message = error_of("needs_dep:create_app")
    assert "importing needs_dep failed: No module named 'not_installed_dependency_xyz'" in message
    assert "pip install not_installed_dependency_xyz" in message


def test_a_missing_dependency_whose_name_prefixes_the_module(make_module: MakeModule) -> None:
    """``myapp_main`` importing a missing ``myapp`` is a missing dependency, not a missing target."""
    make_module("myapp_main", "import myapp\n")
    message = error_of("myapp_main:create_app")
    assert "importing myapp_main failed" in message
    assert "pip install myapp" in message


@pytest.fixture
def no_email_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if email-validator were not installed, for this test only."""
    monkeypatch.setitem(sys.modules, "email_validator", None)


@pytest.mark.usefixtures("no_email_validator")
def test_missing_email_validator_says_to_install_it(make_module: MakeModule) -> None:
    make_module("email_app", EMAIL_MODEL)
    message = error_of("email_app:create_app")
    assert "needs the email-validator package" in message
    assert "pip install 'email-validator>=2'" in message
    assert "(--bgtasks-target option)" in message


def test_a_module_that_raises_on_import(make_module: MakeModule) -> None:
    make_module("broken_app", "raise RuntimeError('no config file')\n")
    message = error_of("broken_app:create_app")
    assert "importing broken_app raised RuntimeError: no config file" in message


# -- the attribute ----------------------------------------------------------------------------
def test_an_attribute_that_does_not_exist(make_module: MakeModule) -> None:
    make_module("noattr", "def make_app(env):\n    return None\n")
    message = error_of("noattr:create_app")
    assert "module noattr has no attribute 'create_app'" in message
    assert "def create_app(env: bgtasks_conformance.TargetEnv)" in message


def test_a_dotted_attribute_is_followed(load: Load, make_module: MakeModule) -> None:
    make_module("dotted", "class Apps:\n    @staticmethod\n    def create_app(env):\n        return None\n")
    target = load_target(choice("dotted:Apps.create_app"))
    assert target.factory.__name__ == "create_app"
    assert "has no attribute 'Apps.nope'" in error_of("dotted:Apps.nope")


def test_an_asgi_app_instance_is_not_a_factory(make_module: MakeModule) -> None:
    make_module("instance_app", "from fastapi import FastAPI\n\napp = FastAPI()\n")
    message = error_of("instance_app:app")
    assert "is an ASGI application (FastAPI), not a factory" in message
    assert "Wrap it" in message


def test_something_not_callable(make_module: MakeModule) -> None:
    make_module("number_app", "create_app = 42\n")
    message = error_of("number_app:create_app")
    assert "is a int, not callable" in message


@pytest.mark.parametrize(
    "signature", ["def create_app():", "def create_app(env, debug):", "def create_app(*, env):"]
)
def test_a_factory_with_the_wrong_signature(load: Load, signature: str) -> None:
    with pytest.raises(TargetError, match=r"cannot be called with one argument \(the TargetEnv\)"):
        load(f"{signature}\n    return None\n")


NO_SIGNATURE = """
class Compiled:
    \"\"\"Like a factory compiled to C: callable, but nothing to inspect.\"\"\"

    @property
    def __signature__(self):
        raise ValueError("no signature found")

    def __call__(self, env):
        return None

create_app = Compiled()
"""


def test_a_callable_without_a_signature_is_trusted(load: Load) -> None:
    assert type(load(NO_SIGNATURE).factory).__name__ == "Compiled"


def test_a_good_factory_and_what_it_lacks(load: Load) -> None:
    target = load(
        "def create_app(env, *, debug=False):\n    return None\n"
        "create_app.conformance_lacks = {'middleware': 'no middleware here'}\n"
    )
    assert target.choice == choice("tgt:create_app")
    assert target.lacks == {"middleware": "no middleware here"}


def test_a_factory_without_lacks_lacks_nothing(load: Load) -> None:
    assert load("def create_app(env):\n    return None\ncreate_app.conformance_lacks = None\n").lacks == {}


# -- building ---------------------------------------------------------------------------------
ASGI_FACTORY = """
async def asgi(scope, receive, send):
    pass

class App:
    async def __call__(self, scope, receive, send):
        pass

def create_app(env):
    return {kind}
"""


@pytest.mark.parametrize("kind", ["asgi", "App()"])
def test_build_returns_an_asgi_app(load: Load, tmp_path: Path, kind: str) -> None:
    target = load(ASGI_FACTORY.format(kind=kind))
    assert callable(target.build(env_for(tmp_path)))


def test_build_passes_the_env(load: Load, tmp_path: Path) -> None:
    target = load("seen = []\n" + ASGI_FACTORY.format(kind="seen.append(env) or asgi"))
    env = env_for(tmp_path)
    target.build(env)
    assert sys.modules["tgt"].seen == [env]


def test_build_trusts_an_app_whose_call_cannot_be_inspected(load: Load, tmp_path: Path) -> None:
    app_class = (
        "class CompiledApp:\n    __call__ = Compiled()\n\n"
        "def create_app(env):\n    return CompiledApp()\n"
    )
    target = load(NO_SIGNATURE.replace("create_app = Compiled()", app_class))
    assert type(target.build(env_for(tmp_path))).__name__ == "CompiledApp"


def test_a_factory_that_raises(load: Load, tmp_path: Path) -> None:
    target = load("def create_app(env):\n    raise KeyError('DATABASE_URL')\n")
    with pytest.raises(TargetError) as caught:
        target.build(env_for(tmp_path))
    message = str(caught.value)
    assert "the factory raised KeyError: 'DATABASE_URL'" in message
    assert "Fix the factory" in message


@pytest.mark.usefixtures("no_email_validator")
def test_a_factory_that_imports_email_validator_late(load: Load, tmp_path: Path) -> None:
    target = load("def create_app(env):\n" + "\n".join(f"    {line}" for line in EMAIL_MODEL.splitlines()))
    with pytest.raises(TargetError, match=r"pip install 'email-validator>=2'"):
        target.build(env_for(tmp_path))


@pytest.mark.parametrize(
    ("returned", "name"), [("None", "NoneType"), ("'app'", "str"), ("lambda env: env", "function")]
)
def test_a_factory_that_returns_no_asgi_app(load: Load, tmp_path: Path, returned: str, name: str) -> None:
    target = load(f"def create_app(env):\n    return {returned}\n")
    with pytest.raises(TargetError) as caught:
        target.build(env_for(tmp_path))
    assert f"the factory returned {name}, which is not an ASGI application" in str(caught.value)
    assert "Return the app" in str(caught.value)


def test_env_schedule_and_observed_use_its_probe(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    added: list[object] = []
    plan = env.schedule({"tasks": [{"id": "t"}]}, lambda task, *a, **k: added.append(task))
    assert plan.task_ids == ["t"]
    assert len(added) == 1

    @env.observed(name="renamed")
    def job() -> int:
        return 7

    assert job() == 7
    reported = [e.kind for e in env.probe.timeline if e.get("task") == "renamed"]
    assert reported == ["task.start", "task.end"]
