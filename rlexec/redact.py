"""Passwords never reach a user's screen or a log: mask every ``scheme://user:password@`` and
every ``password=`` query parameter of a URL (libpq and asyncpg take one there) in a text
before it is shown.

``mask_passwords`` works on any text (an error message, a config value, an unparsable URL), so
it is the last step of every error path that may quote a database URL; ``rlexec.store.engine.
redact_url`` renders a URL the same way (``user:***@host``).
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@ - the password runs to the last '@' before a space or a quote, so a
# password that itself holds '@' or ':' is masked whole.
_CREDENTIALS = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s'\"]*:)(?P<password>[^\s'\"]*)@"
)

# ?password=... / &password=... of a URL's query (to the next '&', space, quote or '#')
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&](?:password|passwd|pwd)=)[^&\s'\"#]*", re.IGNORECASE)


def mask_passwords(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    text = _CREDENTIALS.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
