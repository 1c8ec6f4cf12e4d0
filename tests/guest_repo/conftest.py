"""The project's own options: a --target of its own, as many projects (and plugins) have."""


def pytest_addoption(parser):
    parser.addoption("--target", default="staging", help="the project's own deployment target")
