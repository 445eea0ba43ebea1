"""Small security primitives: password hashing, signed tokens (CSRF, challenges), tracking numbers,
upload checks. Pure functions; the web layer decides when to call them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id with the library defaults (RFC 9106 "low memory" profile)
_hasher = PasswordHasher()
# verified against when the username is unknown, so both paths take the same time
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))

MIN_PASSWORD_CHARS = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def sha256_hex(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# Crockford base32 without I, L, O, U: readable over the phone, no ambiguous characters
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def tracking_number(prefix: str) -> str:
    """``TS-XXXX-XXXX-XXXX-XXXX``: 80 random bits, so numbers cannot be guessed or enumerated."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"{prefix}-" + "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalize_tracking(value: str) -> str:
    v = value.strip().upper().replace(" ", "")
    prefix, dash, rest = v.partition("-")
    # Crockford decoding of look-alikes, after the letter prefix (which is not base32)
    return prefix + dash + rest.replace("O", "0").replace("I", "1").replace("L", "1")


class Signer:
    """HMAC-SHA256 signatures over short strings, with expiry."""

    def __init__(self, secret: str):
        self._key = hashlib.sha256(("hegui-console:" + secret).encode()).digest()

    def mac(self, *parts: str) -> str:
        msg = "\x1f".join(parts).encode()
        return base64.urlsafe_b64encode(hmac.new(self._key, msg, hashlib.sha256).digest()[:24]).decode()

    def check(self, mac: str, *parts: str) -> bool:
        return hmac.compare_digest(mac.encode(), self.mac(*parts).encode())

    # CSRF: signed double-submit. The cookie holds a random value; forms carry MAC(cookie, session).
    # A cross-site page can neither read the cookie nor compute the MAC, and a session change
    # (login) invalidates tokens issued before it.
    def csrf_token(self, cookie_value: str, session_id: str = "") -> str:
        return self.mac("csrf", cookie_value, session_id)

    def csrf_ok(self, token: str | None, cookie_value: str | None, session_id: str = "") -> bool:
        if not token or not cookie_value:
            return False
        return self.check(token, "csrf", cookie_value, session_id)


@dataclass(frozen=True)
class Challenge:
    question: str
    token: str
    nonce: str


def make_challenge(signer: Signer, now: float | None = None) -> Challenge:
    """A small sum; the answer travels only inside the MAC, so the form needs no server state."""
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    issued = int(now if now is not None else time.time())
    nonce = secrets.token_urlsafe(12)
    mac = signer.mac("challenge", str(a + b), str(issued), nonce)
    return Challenge(question=f"{a} + {b}", token=f"{issued}.{nonce}.{mac}", nonce=nonce)


def check_challenge(
    signer: Signer, token: str, answer: str, ttl_s: int, now: float | None = None
) -> tuple[bool, str | None]:
    """(ok, nonce). The nonce lets the caller make each challenge single-use."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return False, None
    issued, nonce, mac = int(parts[0]), parts[1], parts[2]
    t = now if now is not None else time.time()
    if t - issued > ttl_s or issued > t + 60:
        return False, None
    ans = answer.strip()
    if not ans.isdigit() or len(ans) > 3:
        return False, None
    return signer.check(mac, "challenge", str(int(ans)), str(issued), nonce), nonce


_UNSAFE = re.compile(r"[^\w.\-() ]+", re.UNICODE)


def safe_filename(name: str | None, limit: int = 120) -> str:
    """A display name only (files are stored in the database under an id): the last path segment,
    no control characters, no leading dots, bounded length."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE.sub("_", name).strip().lstrip(".")
    if not name or set(name) <= {"_", ".", " "}:
        name = "evidence"
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: limit - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else name[:limit]
    return name


def sniff_type(data: bytes) -> str | None:
    """The content type from the bytes themselves (the browser's claim is not trusted)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # plain text: no NULs or other binary control characters
    if any(unicodedata.category(ch) == "Cc" and ch not in "\r\n\t\f" for ch in text):
        return None
    return "text/plain"


def add_working_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` working days (Monday-Friday; public holidays are not modelled), in the
    China time zone where the deadline is read."""
    from zoneinfo import ZoneInfo

    local = start.astimezone(ZoneInfo("Asia/Shanghai"))
    left = days
    while left > 0:
        local += timedelta(days=1)
        if local.weekday() < 5:
            left -= 1
    return local.astimezone(start.tzinfo)
