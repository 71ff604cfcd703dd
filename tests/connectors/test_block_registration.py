"""Under the run's Prefect test server: `register_block_types()` puts every app's Block type and schema in
Prefect (the UI's catalog lists them before anyone saved one), Blocks saved before the kit still load, and
`open_connection` opens a saved connection's client."""

from __future__ import annotations

import uuid

import pytest

from connectors.amilia import AmiliaCredentials
from connectors.cyberimpact import CyberimpactCredentials
from connectors.registry import ConnectionNotFound, apps, open_connection, register_block_types
from tests.connectors.conftest import CYBER_TOKEN, Control

pytestmark = pytest.mark.prefect


@pytest.fixture(autouse=True)
def prefect(prefect_server) -> None:
    """The run's Prefect test server (tests/conftest.py)."""


async def _forget_block_types(client, slugs: list[str]) -> None:
    from prefect.exceptions import ObjectNotFound

    for slug in slugs:
        try:
            block_type = await client.read_block_type_by_slug(slug)
        except ObjectNotFound:
            continue
        await client.delete_block_type(block_type.id)


async def test_registration_creates_every_apps_block_type_and_schema() -> None:
    from prefect.client.orchestration import get_client

    classes = [app.credentials_class() for app in apps().values()]
    slugs = [cls.get_block_type_slug() for cls in classes]
    assert {"amilia-credentials", "cyberimpact-credentials"} <= set(slugs)
    async with get_client() as client:
        await _forget_block_types(client, slugs)  # as on a fresh server: nobody saved a Block yet
        assert await register_block_types() == slugs
        assert await register_block_types() == slugs  # idempotent
        for cls in classes:
            block_type = await client.read_block_type_by_slug(cls.get_block_type_slug())
            assert block_type.name == cls.get_block_type_name()
            assert block_type.description == cls.get_description()
            schemas = [s for s in await client.read_block_schemas() if s.block_type_id == block_type.id]
            assert [s.checksum for s in schemas] == [cls._calculate_schema_checksum()]
            assert schemas[0].fields["secret_fields"] == cls.secret_field_names()
            assert list(schemas[0].fields["properties"]) == list(cls.model_fields)


async def test_a_block_saved_before_the_kit_still_loads() -> None:
    """A block document as `passerelle connect amilia` wrote it (same slug, same field names) loads."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import BlockDocumentCreate

    await register_block_types()
    name = f"old-{uuid.uuid4().hex[:8]}"
    data = {"username": "me@example.org", "password": "pw-old", "organization": "8008", "language": "fr",
            "base_url": "http://127.0.0.1:1/amilia/api/V3", "max_concurrency": 4}
    async with get_client() as client:
        block_type = await client.read_block_type_by_slug("amilia-credentials")
        schema = await client.read_block_schema_by_checksum(AmiliaCredentials._calculate_schema_checksum())
        await client.create_block_document(BlockDocumentCreate(
            name=name, data=data, block_type_id=block_type.id, block_schema_id=schema.id))
    loaded = await AmiliaCredentials.aload(name)
    assert loaded.password.get_secret_value() == "pw-old"
    assert {k: getattr(loaded, k) for k in data if k != "password"} == {
        k: v for k, v in data.items() if k != "password"}
    assert loaded.block_ref == f"amilia-credentials/{name}"


async def test_open_connection_opens_the_saved_blocks_client(sb: Control) -> None:
    name = f"news-{uuid.uuid4().hex[:8]}"
    await CyberimpactCredentials(api_token=CYBER_TOKEN, base_url=sb.server.cyberimpact_url).save(name)
    async with open_connection("cyberimpact", name) as cyber:
        assert await cyber.ping() == {"ping": "pong"}
    with pytest.raises(ConnectionNotFound) as info:
        async with open_connection("cyberimpact", "nobody-here"):
            pass
    assert str(info.value) == ("no cyberimpact connection named 'nobody-here': create it with "
                               "`passerelle connect cyberimpact --name nobody-here`")
    with pytest.raises(ValueError, match="not a valid connection name"):
        async with open_connection("cyberimpact", "../x"):
            pass
