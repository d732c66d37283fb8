"""docs/portal-integration.md, step 1: the portal's module, now relaylink's drop-in (the file stays, so all
three import sites get it: an alias set in services/__init__.py would be undone by the task module's import)."""
from relaylink.chirpstack_service import *  # noqa: F401,F403
from relaylink.chirpstack_service import (  # noqa: F401  (names the portal imports one by one)
    IVY_FPORT, IVY_RELAY_OFF_COMMAND, IVY_RELAY_ON_COMMAND, RELAY_OFF_COMMAND, RELAY_ON_COMMAND, send_relay_command,
)
