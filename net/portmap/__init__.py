"""Port mapping: ask the router to forward a public port to our chat socket,
with PCP (RFC 6887), NAT-PMP (RFC 6886) or UPnP-IGD.

natpmp.py and pcp.py are the codecs, client.py the sans-I/O state machine
for both, upnp.py the UPnP client (miniupnpc in a thread), gateway.py finds
the router, mapper.py drives it all on trio.
"""

from .client import Protocol
from .mapper import PortMapper, PortMapStatus

__all__ = ["PortMapStatus", "PortMapper", "Protocol"]
