"""Not a test: a typical use of relaylink that test_package.py type-checks with mypy --strict."""
import asyncio
from datetime import datetime, timezone
import relaylink
from relaylink import chirpstack_service, modbus, profiles

def use(sim: relaylink.Simulator) -> None:
    client = relaylink.ChirpStackClient.for_simulator(sim)
    qid: str = client.enqueue("0101010101010101", modbus.RELAY_OFF, confirmed=True,
                              expires_at=datetime.now(timezone.utc))
    with relaylink.RelayService(client, db=":memory:", simulator=sim) as svc:
        c = svc.disconnect("0101010101010101", profile="eastron_sdm", reason="arrears")
        done = svc.wait(c.id, timeout=30.0)
        when: datetime | None = done.completed_at
        print(qid, when, profiles.get("ivy_em114").relay_on().payload.hex())
    ok, msg = chirpstack_service.send_relay_command("0101010101010101", "off")
    async def main() -> None:
        items = await client.get_queue_async("0101010101010101")
        print([i.id for i in items])
    asyncio.run(main())
    # The context-manager form of both, as docs and examples write it.
    with relaylink.ChirpStackClient(url=sim.url, api_key=sim.api_key) as c2, \
            relaylink.RelayService(c2, db=":memory:", instance="typed") as svc2:
        print(svc2.counts())
