"""The wire tier: the requirements that concern the wire, under real servers on loopback."""

from __future__ import annotations

import pytest

from conformance import MUST, requirement
from conformance.events import finished
from conformance.wire import Wire

pytestmark = [pytest.mark.asyncio, pytest.mark.wire]


@requirement("POST-002", MUST)
@pytest.mark.parametrize("form", ["function", "async_function"])
async def test_client_has_the_whole_response_while_a_task_is_held(wire: Wire, form: str) -> None:
    """The client receives the complete response (status, headers and whole body) while a background task is still
    running.
    """
    response = await wire.scenario([{"id": "held", "form": form, "gate": "held"}])
    assert response.status_code == 200, f"expected status 200, saw {response.status_code}: {response.text}"
    ended = wire.timeline.first(finished("held"))
    assert ended is None, f"expected the task still held when the client had the response, saw {ended}"
    await wire.harness.wait_started("held")
    wire.harness.open("held")
    await wire.harness.wait_finished("held")
