"""File transfer over a session's control records and bulk streams (issue 17).

Four parts, one job each: `codec` (the control records and the stream
header, bytes in and out), `machine` (one transfer's states for the sender
and the receiver, fed records, byte counts and time: no I/O), `disk` (the
downloads directory: safe names, `.part` files, the rename) and `store`
(unfinished transfers in SQLite, so both sides resume after a kill or a
reboot). `app.FilesApp` is the trio part that drives them on a peer's
session; `Node`'s file API (node_files.py) is its front.
"""
