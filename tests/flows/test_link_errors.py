"""A run started with a link whose Blocks are missing fails with a short message that says how to create
them: the Prefect UI shows it as the failed run's message."""

from __future__ import annotations

import uuid

import pytest

from connectors.amilia.credentials import AmiliaCredentials
from connectors.cyberimpact.credentials import CyberimpactCredentials
from flows.amilia_sync import amilia_initial_sync
from tasks.amilia_cyberimpact.links import LinkNotFound, load_link, open_link

pytestmark = pytest.mark.prefect


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_unknown_link_fails_the_run_with_the_fix() -> None:
    state = await amilia_initial_sync(link="nope", return_state=True)
    assert state.is_failed()
    assert "'nope'" in state.message
    assert "`passerelle connect amilia --name nope`" in state.message
    assert "`passerelle connect cyberimpact --name nope`" in state.message
    assert len(state.message) < 400 and "Unable to find block document" not in state.message


async def test_missing_cyberimpact_block_is_named_in_the_run_message() -> None:
    name = _name("half")
    await AmiliaCredentials(username="u", password="p", organization="1").save(name)
    state = await amilia_initial_sync(link=name, return_state=True)
    assert state.is_failed() and "Cyberimpact" in state.message
    assert f"`passerelle connect cyberimpact --name {name}`" in state.message
    assert "connect amilia" not in state.message


async def test_open_link_raises_link_not_found_naming_the_missing_blocks() -> None:
    with pytest.raises(LinkNotFound) as info:
        async with open_link("nope"):
            pass
    assert str(info.value) == ("no link named 'nope': create it with `passerelle connect amilia --name nope` "
                               "and `passerelle connect cyberimpact --name nope`")
    assert info.value.missing == ("amilia", "cyberimpact")

    name = _name("half")
    await CyberimpactCredentials(api_token="t").save(name)
    with pytest.raises(LinkNotFound) as info:
        await load_link(name)
    assert info.value.missing == ("amilia",)
    assert str(info.value) == (f"link '{name}' has no Amilia credentials (block 'amilia-credentials/{name}'): "
                               f"create them with `passerelle connect amilia --name {name}`")


async def test_load_link_refuses_names_a_block_cannot_have() -> None:
    with pytest.raises(ValueError, match="lowercase letters, digits and dashes"):
        await load_link("../x")


def test_link_not_found_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(LinkNotFound("club", ["cyberimpact"])))
    assert isinstance(error, LinkNotFound) and error.missing == ("cyberimpact",) and "cyberimpact" in str(error)


async def test_stopped_vendor_fails_the_run_with_the_url_to_check() -> None:
    from sandbox.server import free_port

    name, base = _name("down"), f"http://127.0.0.1:{free_port()}"  # nothing listens there
    await AmiliaCredentials(username="u", password="demo-password", organization="1",
                            base_url=f"{base}/amilia/api/V3").save(name)
    await CyberimpactCredentials(api_token="t", base_url=f"{base}/cyberimpact").save(name)
    state = await amilia_initial_sync(link=name, return_state=True)
    assert state.is_failed() and "could not be reached" in state.message
    assert "Check the base URL (" + base in state.message and "demo-password" not in state.message
    assert "\n" not in state.message
