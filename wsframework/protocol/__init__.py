"""Sans-I/O helpers around wsproto: handshake checks, close codes, deflate settings.

Nothing in this package imports trio; it turns bytes into facts and facts into bytes, so it can
be tested without an event loop.
"""

from . import masking

masking.install()
