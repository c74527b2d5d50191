"""Group conversations over the pairwise sessions (issue 18).

One job per module: `codec` (the records as bytes), `membership` (the signed
log of changes and the state folded from it), `order` (Lamport clocks and
the total order), `sync` (per-author heads: what another member lacks),
`group` (one group's judgement of what arrives), `store` (SQLite) and
`engine` (a node's groups: the user's actions and the records in and out).
All are free of the network; net/node_groups.py runs them on the node.
"""

from .arrivals import Send
from .codec import MAX_TEXT_BYTES
from .engine import Groups
from .membership import MAX_MEMBERS
from .store import GroupStore

__all__ = ["MAX_MEMBERS", "MAX_TEXT_BYTES", "GroupStore", "Groups", "Send"]
