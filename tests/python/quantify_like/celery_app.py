"""The portal's celery_app.py: a Celery app that never calls create_app()."""
import os

from celery import Celery

celery = Celery("quantify_like", include=["quantify_like.tasks.prepaid_disconnect_tasks"])
folder = os.environ.get("CELERY_FOLDER")  # a broker of files, for one machine (the tests); the portal's: redis
if folder:
    celery.conf.update(broker_url="filesystem://", result_backend=f"file://{folder}/results",
                       broker_transport_options={"data_folder_in": folder, "data_folder_out": folder,
                                                 "control_folder": os.path.join(folder, "control"), "polling_interval": 0.1})
celery.conf.update(task_acks_late=True, worker_prefetch_multiplier=1)
