"""The staff PIN as ``kiosk-provision`` stores it and the kiosk checks it: scrypt, salted per device.

Stored as ``scrypt$n$r$p$salt$hash`` (salt and hash in hex): a PIN has so few possible values that an unsalted
fast hash reverses in milliseconds, so every device gets its own random salt (one table cannot serve two
kiosks) and each guess costs about 32 MiB and tens of milliseconds. The cost parameters travel in the string,
so raising ``SCRYPT_N`` later leaves every stored PIN working and ``is_weaker`` says which to set again.

The old form, a bare sha256 in hex, still verifies so that an update does not lock staff out of their kiosk,
but ``kiosk doctor`` fails on it until the PIN is set again (``kiosk-provision staff-pin``). The demo PIN 2468
ships as the default for ``kiosk demo`` and laptops; ``kiosk doctor`` fails on it too. It lives here, below
both the kiosk and provisioning, because both must agree on the format.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SCRYPT_N = 2**15  # 32 MiB with r=8: about 0.1 s on a laptop core, a few tenths on a Pi 4's
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
MAX_MEMORY = 1 << 30  # a stored string asking for more is refused rather than run
PIN_MIN_DIGITS = 6
PIN_MAX_DIGITS = 8  # what the staff screen's numpad takes
DEMO_PIN = "2468"
# The demo PIN under a fixed, published salt: the same on every checkout, so it can be the settings' default.
DEMO_PIN_HASH = (
    "scrypt$32768$8$1$6b696f736b2d64656d6f2d70696e2121$52b58d239a748b950f4441cecaef797cffd6a3b96c9c467c1b41f5ec8804261d"
)
_LEGACY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ScryptHash:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def __str__(self) -> str:
        return f"scrypt${self.n}${self.r}${self.p}${self.salt.hex()}${self.digest.hex()}"


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """The stored form of ``pin`` with today's parameters and a fresh random salt (``salt`` only for fixed values)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return str(ScryptHash(SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, digest))


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` is the one ``stored`` was made from, compared in constant time."""
    if is_legacy(stored):
        return hmac.compare_digest(hashlib.sha256(pin.encode()).hexdigest(), stored)
    parsed = parse(stored)
    digest = _scrypt(pin, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.digest))
    return hmac.compare_digest(digest, parsed.digest)


def is_legacy(stored: str) -> bool:
    """The old unsalted sha256 form (``admin_pin_sha256``), which a lookup table reverses."""
    return _LEGACY.fullmatch(stored) is not None


def is_weaker(stored: str) -> bool:
    """Made with lower cost parameters than ``hash_pin`` uses today: worth setting again."""
    parsed = parse(stored)
    return (parsed.n, parsed.r, parsed.p) < (SCRYPT_N, SCRYPT_R, SCRYPT_P) or len(parsed.salt) < SALT_BYTES


def check_stored(stored: str) -> str:
    """``stored`` when it is either form (the settings' validator); ValueError says what is wrong otherwise."""
    if not is_legacy(stored):
        parse(stored)
    return stored


def parse(stored: str) -> ScryptHash:
    """The parts of a ``scrypt$n$r$p$salt$hash`` string; ValueError for anything else or an absurd cost."""
    parts = stored.split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError("not scrypt$n$r$p$salt$hash")
        n, r, p = (int(part) for part in parts[1:4])
        parsed = ScryptHash(n, r, p, bytes.fromhex(parts[4]), bytes.fromhex(parts[5]))
    except ValueError as error:
        raise ValueError(f"not a staff PIN hash ({error}): run kiosk-provision staff-pin") from None
    if parsed.n < 2 or parsed.n & (parsed.n - 1) or min(parsed.r, parsed.p) < 1 or _memory(parsed) > MAX_MEMORY:
        raise ValueError(f"staff PIN hash with impossible cost n={parsed.n} r={parsed.r} p={parsed.p}")
    if not parsed.salt or not 16 <= len(parsed.digest) <= 64:
        raise ValueError("staff PIN hash without its salt, or with a digest of an odd length")
    return parsed


def check_new_pin(pin: str) -> str:
    """A PIN fit to set: digits the numpad can type, long enough that guessing takes the lock-out months, and
    not a row or one digit repeated (the PINs tried first). ValueError says which rule it breaks."""
    if not pin.isdecimal() or not pin.isascii():
        raise ValueError("the staff PIN is digits only (the staff screen has a numpad)")
    if not PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS:
        raise ValueError(f"the staff PIN has {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits, not {len(pin)}")
    if len(set(pin)) == 1 or pin in "01234567890" or pin in "98765432109":
        raise ValueError("the staff PIN may not be one digit repeated or a run such as 123456")
    return pin


def generate_pin() -> str:
    """A random PIN of the most digits the numpad takes, from the system's secure random source."""
    while True:
        pin = "".join(str(secrets.randbelow(10)) for _ in range(PIN_MAX_DIGITS))
        try:
            return check_new_pin(pin)
        except ValueError:  # one in millions: a row or a repeat
            continue


def _memory(parsed: ScryptHash) -> int:
    return 128 * parsed.r * (parsed.n + parsed.p + 2)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    maxmem = 128 * r * (n + p + 2) + (1 << 20)  # OpenSSL's default cap (32 MiB) is just below n=2**15, r=8
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length)
