"""The portal's celery_app.py: a Celery app that never calls create_app()."""
import os

from celery import Celery

celery = Celery("quantify_like", include=["quantify_like.tasks.prepaid_disconnect_tasks"])
# A broker in a SQLite file, for one machine (the tests); the portal's: redis. Not kombu's filesystem transport:
# its producer creates a message file before writing it, and a worker polling in between reads it empty and its
# consumer loop dies (JSONDecodeError) — seen on a loaded machine.
folder = os.environ.get("CELERY_FOLDER")
if folder:
    celery.conf.update(broker_url=f"sqla+sqlite:///{folder}/broker.db", result_backend=f"file://{folder}/results")
celery.conf.update(task_acks_late=True, worker_prefetch_multiplier=1)
