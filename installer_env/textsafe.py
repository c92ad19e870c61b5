"""Show text from outside (SSIDs, hostnames, interface names) literally, never as terminal commands."""

from __future__ import annotations

import unicodedata

# Bidirectional overrides and isolates reorder what follows them on screen.
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def literal(text: str | bytes) -> str:
    """One printable line: control, format and bidi characters become visible \\x/\\u escapes.

    Bytes that are not UTF-8 are shown as \\xNN, so a hostile SSID can never become an escape
    sequence, a line break or reversed text.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in _BIDI or cat in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
