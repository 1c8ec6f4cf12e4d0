import conformance
import spec


def test_the_projects_own_packages_are_imported():
    assert conformance.OWNER == "the user project"
    assert spec.__file__.endswith("spec/__init__.py") and "site-packages" not in spec.__file__


def test_the_projects_own_target_option(request):
    assert request.config.getoption("--target") == "staging"
