"""What may be uploaded to WeCom as media: checked by content (magic bytes) and size, not by name.

A playbook's ``image: /etc/shadow`` must never leave the machine. Every media
file is read once, at most ``limit + 1`` bytes, from a regular file, and the
bytes that are checked are the bytes that are sent, so swapping the file
between ``plan check`` and the send changes nothing. Limits (WECOM.md §5.2,
§6.2 errcode 45001): ``media/upload`` image and voice 5 MB (voice must be AMR,
and a robot voice 2 MB), video 10 MB (MP4), file 5 B–20 MB; a robot image is
sent inline and may be at most 2 MB. Images must be JPG or PNG.
"""

from __future__ import annotations

import os
import stat

from siyu_cli.errors import DataError

MB = 1024 * 1024
MIN_BYTES = 5
#: media/upload limits by media type (bytes)
UPLOAD_LIMITS = {"image": 5 * MB, "voice": 5 * MB, "video": 10 * MB, "file": 20 * MB}
#: a group robot's inline image (webhook/send msgtype image)
ROBOT_IMAGE_BYTES = 2 * MB
#: content each media type must have: name -> magic test
FORMATS = {
    "image": ("JPG or PNG", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n") or b.startswith(b"\xff\xd8\xff")),
    "voice": ("AMR", lambda b: b.startswith(b"#!AMR")),
    "video": ("MP4", lambda b: b[4:8] == b"ftyp"),
    "file": ("any file", lambda b: True),
}


class MediaRefused(DataError):
    """A file that cannot be sent as media; ``problem`` says why without naming the file."""

    def __init__(self, path, media_type: str, problem: str):
        super().__init__(f"{media_type} {path} {problem}; nothing was uploaded")
        self.problem = problem


def media_problem(data: bytes, media_type: str, limit: int) -> str | None:
    """Why ``data`` cannot be sent as ``media_type`` (None when it can)."""
    if len(data) > limit:
        return f"is larger than {limit // MB} MB (WeCom's limit for {media_type})"
    if len(data) < MIN_BYTES:
        return f"is {len(data)} bytes; WeCom media are at least {MIN_BYTES} bytes"
    label, ok = FORMATS[media_type]
    if not ok(data):
        return f"is not a {label} file (checked by content, not by name)"
    return None


def read_media(path: os.PathLike | str, media_type: str = "image", *, limit: int | None = None) -> bytes:
    """The bytes of a regular file that may be sent as ``media_type``; MediaRefused (exit 65) otherwise."""
    limit = UPLOAD_LIMITS[media_type] if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block us
    except OSError as exc:
        raise MediaRefused(path, media_type, f"cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise MediaRefused(path, media_type, "is not a regular file")
        data = f.read(limit + 1)
    problem = media_problem(data, media_type, limit)
    if problem:
        raise MediaRefused(path, media_type, problem)
    return data
