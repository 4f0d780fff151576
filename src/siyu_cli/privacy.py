"""Personal data stays personal: masking phones and emails, pseudonymous ids, the workspace id key.

Masking (:func:`mask_text`, :func:`mask_value`, :func:`mask_rows`) is what every output a person
can share goes through: terminal tables, ``--format csv|json``, files siyu writes, JSON logs,
robot alerts and the HTML report. It recognises *phones*, not any 11-digit run: a mainland mobile
(1[3-9]x xxxx xxxx, optionally ``+86``/``0086``/``86`` in front, digits optionally grouped by
spaces, hyphens or dots) that is not glued to other letters or digits — so a WeCom msgid such as
``msg4d9060f14713800138000…`` or a 28-digit payment serial is left alone. Emails keep their first
character and their domain (``s***@mail.com``).

Pseudonymous ids: a member id derived from a phone, an email or a WeChat unionid is a keyed hash
(HMAC-SHA256 under the workspace's id key, first 20 hex digits) behind a readable prefix:
``ph:`` phone, ``em:`` email, ``un:`` unionid — e.g. ``ph:3f1c9a0b5e7d24c8a1f0``. The same key
and value always give the same id, so loads stay stable; without the key the id says nothing.
The loader computes the ids in SQL: :func:`install_sql` defines TEMP macros on a connection that
compute the *same* HMAC-SHA256 as :func:`keyed_hash` with DuckDB's vectorised ``sha256`` (the key's
inner and outer pads are constants of the macro, which lives only in that connection's memory).

The id key is 32 random bytes in ``<workspace>/.siyu/id.key`` (0600, folder 0700), created by
``siyu init`` or on first need; ``SIYU_ID_KEY`` / ``SIYU_ID_KEY_FILE`` (a 0600 file) override it.
It is never printed (it is registered with :mod:`siyu_cli.secrets` for redaction). Lose it and new
loads can no longer recognise existing pseudonymous members: back it up with the store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets as _random
from pathlib import Path
from typing import Any, Iterable, Sequence
from siyu_cli.i18n import _

KEY_DIR = ".siyu"
KEY_FILE = "id.key"
KEY_ENV = "SIYU_ID_KEY"
ID_HEX = 20  # hex digits of the HMAC kept in a member id (80 bits: no collision in any real member base)

#: key type → member-id prefix, for the key types whose values are personal data
PSEUDONYM_PREFIX = {"phone": "ph:", "email": "em:", "unionid": "un:"}

# ---------------------------------------------------------------- masking

_SEP = r"[ \-.\u00a0]?"
_PHONE_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])"                       # not glued to a word or a longer number
    r"(?:(?:\+|00)?86" + _SEP + r")?"          # +86 / 0086 / 86 (dropped from the masked form)
    r"(1[3-9][0-9])" + _SEP + r"([0-9]{4})" + _SEP + r"([0-9]{4})"
    r"(?![0-9A-Za-z])"
)
_EMAIL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_PHONE = re.compile(r"^(?:\+?86)?(1\d{2})(\d{4})(\d{4})$")
_MARK = re.compile(r"[0-9@]")  # text without a digit or an @ cannot hold a phone or an email


def mask_phone(phone: str | None) -> str | None:
    """``13812341234`` → ``138****1234``; already-masked or odd values are kept."""
    if not phone:
        return phone
    m = _PHONE.match(phone)
    if not m:
        return phone if "*" in phone else (phone[:3] + "****" if len(phone) > 4 else "****")
    return f"{m.group(1)}****{m.group(3)}"


def mask_text(text: str) -> str:
    """Every mainland mobile number and email inside free text, masked."""
    if not _MARK.search(text):
        return text
    text = _PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    if "@" in text:
        text = _EMAIL_IN_TEXT.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return text


def mask_value(value: Any) -> Any:
    """A cell of any shape with its text masked: str, and lists/tuples/dicts (DuckDB LIST, STRUCT, MAP) at any depth."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_value(v) for v in value)
    if isinstance(value, dict):
        return {mask_value(k): mask_value(v) for k, v in value.items()}
    return value


def mask_rows(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows with every text cell masked, nested values included."""
    return [tuple(mask_value(v) for v in row) for row in rows]


def mask_sql(expr: str) -> str:
    """A DuckDB expression: the VARCHAR ``expr`` with phones and emails masked as :func:`mask_text` does.

    RE2 has no look-behind, so the boundary characters are captured and put back, and the phone
    replacement runs twice so that two numbers separated by one character are both masked.
    """
    phone = r"(^|[^0-9A-Za-z])(?:(?:\+|00)?86[ .-]?)?(1[3-9][0-9])[ .-]?[0-9]{4}[ .-]?([0-9]{4})($|[^0-9A-Za-z])"
    email = r"(^|[^A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    masked = expr
    for _i in range(2):
        masked = f"regexp_replace({masked}, '{phone}', '\\1\\2****\\3\\4', 'g')"
    masked = f"regexp_replace({masked}, '{email}', '\\1\\2***@\\3', 'g')"
    # one cheap test first: most values (ids, names) hold neither a phone-like run nor an @
    return f"CASE WHEN regexp_matches({expr}, '1[3-9][0-9][ .-]?[0-9]{{4}}[ .-]?[0-9]{{4}}|@') THEN {masked} ELSE {expr} END"


# ---------------------------------------------------------------- the id key

def key_path(settings) -> Path:
    return Path(settings.root) / KEY_DIR / KEY_FILE


def ensure_key_file(root: Path) -> Path:
    """Create ``<root>/.siyu/id.key`` (32 random bytes, hex; 0600 in a 0700 folder) unless it exists."""
    folder = Path(root) / KEY_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(_random.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return path


def workspace_key(settings, *, env=None) -> bytes:
    """The workspace's id key (``SIYU_ID_KEY[_FILE]``, else ``.siyu/id.key``, created on first need)."""
    from siyu_cli.secrets import read_secret, register

    text = read_secret(KEY_ENV, env=env)
    if not text:
        path = key_path(settings)
        if not path.exists():
            ensure_key_file(Path(settings.root))
        text = path.read_text(encoding="ascii").strip()
        register(text)
    try:
        key = bytes.fromhex(text) if re.fullmatch(r"[0-9a-fA-F]{32,}", text) else text.encode("utf-8")
    except ValueError:  # pragma: no cover - the regex already checked
        key = text.encode("utf-8")
    if len(key) < 16:
        from siyu_cli.errors import ConfigError

        raise ConfigError(_('{KEY_ENV}: the id key must hold at least 16 bytes').format(KEY_ENV=KEY_ENV))
    return key


def keyed_hash(key: bytes, id_type: str, value: str) -> str:
    """HMAC-SHA256(key, ``id_type`` U+001F ``value``) as 64 hex digits (what the SQL macro computes)."""
    return hmac.new(key, f"{id_type}\x1f{value}".encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonym(key: bytes, id_type: str, value: str) -> str:
    """The member id of a person first known by ``value`` of ``id_type`` (phone, email, unionid)."""
    return PSEUDONYM_PREFIX[id_type] + keyed_hash(key, id_type, value)[:ID_HEX]


def fingerprint(key: bytes) -> str:
    """A value that tells keys apart without revealing them (stored to catch a swapped key)."""
    return keyed_hash(key, "siyu-id-key", "fingerprint")[:16]


def install_sql(con, key: bytes | None) -> None:
    """Define ``siyu_keyed(type, value)`` (64 hex, = :func:`keyed_hash`) and ``siyu_pseudonym(type, value)``
    as TEMP macros of ``con``: HMAC-SHA256 = sha256(key⊕opad ‖ sha256(key⊕ipad ‖ message)).
    ``key`` None (a read-only connection of a workspace without a key): both return NULL.
    """
    if key is None:
        con.execute("CREATE OR REPLACE TEMP MACRO siyu_keyed(t, v) AS NULL::VARCHAR")
        con.execute("CREATE OR REPLACE TEMP MACRO siyu_pseudonym(t, v) AS NULL::VARCHAR")
        return
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in block).hex()
    opad = bytes(b ^ 0x5C for b in block).hex()
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO siyu_keyed(t, v) AS "
        f"sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode(t || chr(31) || v))))"
    )
    cases = " ".join(f"WHEN '{t}' THEN '{p}'" for t, p in PSEUDONYM_PREFIX.items())
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO siyu_pseudonym(t, v) AS "
        f"(CASE t {cases} END) || left(siyu_keyed(t, v), {ID_HEX})"
    )


# ---------------------------------------------------------------- files for the owner only

def private_umask() -> None:
    """Files and folders siyu creates from here on are the owner's only (0600 / 0700)."""
    os.umask(0o077)


def chmod_private(path: Path) -> None:
    """Make an existing file 0600 (a folder 0700); quietly skip what is gone or not ours."""
    try:
        os.chmod(path, 0o700 if Path(path).is_dir() else 0o600)
    except (FileNotFoundError, PermissionError):
        pass


def open_private(path: Path):
    """``path`` opened for writing text, readable by the owner only whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    chmod_private(path)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, whatever the umask."""
    with open_private(path) as f:
        f.write(text)
