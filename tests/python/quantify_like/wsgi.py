"""gunicorn --preload -w 2 quantify_like.wsgi:app: the master imports this (create_app() runs once, there)."""
import logging
import os

from quantify_like import create_app
from quantify_like.extensions import relay

logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s %(message)s")
app = create_app(relay_mode="extension")
with app.app_context():  # SQLAlchemy's own rule for --preload: no pooled connection may cross the fork
    from quantify_like.db import db
    db.engine.dispose()
if os.environ.get("QL_START_IN_MASTER"):  # a start-up hook that touches the service before the fork
    relay.service  # noqa: B018
    logging.getLogger("quantify_like").info("master %d started a service before forking", os.getpid())
