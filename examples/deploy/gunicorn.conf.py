"""gunicorn settings for the portal with relaylink (docs/deploying.md): a service per worker, made after
the fork and closed when the worker exits (also when `max_requests` recycles it)."""
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
max_requests = int(os.environ.get("PORTAL_MAX_REQUESTS", "1000"))  # recycled workers leave their claims to others
timeout = 30


def post_fork(server, worker):
    import relay                       # the portal's module holding the service

    relay.start(instance=f"web-{worker.pid}")


def worker_exit(server, worker):
    import relay

    relay.stop()
