"""How long conversation state stays alive (shared by the dispatcher and the services)."""

from __future__ import annotations

from datetime import timedelta

# An unfinished flow is ended (with a message) after this much silence.
FLOW_TIMEOUT = timedelta(minutes=30)
# An option offered outside a flow (menus, notices' buttons) can be pressed this long.
OFFER_DAYS = 45
