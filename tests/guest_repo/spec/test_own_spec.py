import pytest


@pytest.mark.requirement("REQ-42")
def test_the_projects_own_requirement(request):
    assert request.node.get_closest_marker("requirement").args == ("REQ-42",)


@pytest.mark.anyio
async def test_async_under_anyios_own_plugin(anyio_backend):
    assert anyio_backend == "asyncio"  # anyio's own default: the suite's fixture is not here
