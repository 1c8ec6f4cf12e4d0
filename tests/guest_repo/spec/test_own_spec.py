import pytest


@pytest.mark.requirement("REQ-42")
def test_the_projects_own_requirement(request):
    assert request.node.get_closest_marker("requirement").args == ("REQ-42",)


async def test_async_in_auto_mode():
    assert True
