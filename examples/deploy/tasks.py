"""The portal's Celery side: the daily disconnect task (docs/deploying.md). Each worker process makes its
own service after Celery forks it (`worker_process_init`) and closes it on the way out.

    RELAYLINK_DB=… CHIRPSTACK_API_URL=… CHIRPSTACK_API_KEY=… CELERY_BROKER_URL=redis://… \\
        celery --workdir examples/deploy -A tasks worker --concurrency 2

The portal's task reads its meters with SQLAlchemy (`Meter.query.filter(Meter.balance <= 0)`); here the
DevEUIs come as the task's argument.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import Any, Dict, List

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

import relay


def _celery_settings() -> Dict[str, Any]:
    # A broker in a SQLite file, for one machine (the tests); production: redis/amqp. (Not kombu's filesystem
    # transport: a worker can read a message file its producer has created but not yet written.)
    folder = os.environ.get("CELERY_FOLDER")
    if folder:
        return {"broker_url": f"sqla+sqlite:///{folder}/broker.db", "result_backend": f"file://{folder}/results"}
    return {"broker_url": os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
            "result_backend": os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/1")}


app = Celery("tasks")
app.conf.update(_celery_settings(), task_acks_late=True, worker_prefetch_multiplier=1)


@worker_process_init.connect
def make_relay_service(**_: Any) -> None:
    relay.start(instance=f"celery-{os.getpid()}")


@worker_process_shutdown.connect
def close_relay_service(**_: Any) -> None:
    relay.stop()


@app.task
def disconnect_zero_balances(dev_euis: List[str], day: str = "") -> List[Dict[str, Any]]:
    """Disconnect every meter whose balance ran out. One idempotency key per meter and day: a task Celery
    runs twice (a retry, `acks_late` after a crash) creates nothing twice."""
    day = day or dt.date.today().isoformat()
    dt.date.fromisoformat(day)  # a bad day fails the task before anything is created
    if relay.service is None:  # not `assert`: python -O would drop it
        raise RuntimeError("relaylink is not started in this worker process (worker_process_init did not run)")
    commands = relay.service.bulk("disconnect", dev_euis, profile="eastron_sdm", actor="celery:daily",
                                  reason="prepaid balance exhausted", idempotency_prefix=f"daily-{day}")
    return [{"id": c.id, "dev_eui": c.dev_eui, "state": c.state} for c in commands]
