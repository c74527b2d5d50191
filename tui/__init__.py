"""p2ptui: peer-to-peer chat for the terminal.

This package is the application (the Textual UI, the `pipe` command and the
command line); `p2ptui.net` is the networking core it is a client of.
"""

__version__ = "0.1.0"
