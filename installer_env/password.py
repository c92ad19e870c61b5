"""Root passwords: easy to type (diceware words), strong (CSPRNG), set without touching argv."""

from __future__ import annotations

import math
import secrets
import subprocess
from importlib import resources

from installer_env.errors import PasswordApplyError

SEPARATOR = "-"
LIST_SIZE = 7776  # 6**5: five dice a word


def wordlist() -> tuple[str, ...]:
    """The EFF long diceware list (7776 words) as shipped by the xkcdpass package. Read for each
    password, not kept: half a MiB the screen would hold for a key pressed once in a while."""
    text = (resources.files("xkcdpass") / "static" / "eff-long").read_text(encoding="utf-8")
    words = tuple(dict.fromkeys(text.split()))  # one word a line; no word holds a space
    if len(words) != LIST_SIZE:  # a truncated or replaced list would silently weaken every password
        raise RuntimeError(f"EFF long word list has {len(words)} words, expected {LIST_SIZE}")
    return words


def generate(words: int) -> str:
    pool = wordlist()
    return SEPARATOR.join(secrets.choice(pool) for _ in range(words))


def entropy_bits(words: int) -> float:
    return round(words * math.log2(LIST_SIZE), 1)


def apply(user: str, password: str, chpasswd: str = "chpasswd") -> None:
    """Set `user`'s password with chpasswd, the secret on stdin only."""
    try:
        result = subprocess.run(
            [chpasswd],
            input=f"{user}:{password}\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except FileNotFoundError:
        raise PasswordApplyError(
            f"cannot set the password: {chpasswd} is not installed (it comes with the shadow/passwd package)"
        ) from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PasswordApplyError(f"cannot set the password: {chpasswd} failed to run ({e})") from None
    if result.returncode != 0:
        detail = " ".join(result.stderr.replace(password, "***").split()) or f"exit code {result.returncode}"
        raise PasswordApplyError(f"cannot set the password for {user}: {detail}")
