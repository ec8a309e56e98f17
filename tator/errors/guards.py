"""Error codes of the guards that keep one hostile client from steering or exhausting the server."""

from __future__ import annotations

from tator.errors.base import TatorError


# --- request guards (issue 15: host, origin, work and decode bounds) -----------------------------
class HostNotAllowed(TatorError):
    code, status = "host_not_allowed", 400


class OriginNotAllowed(TatorError):
    code, status = "origin_not_allowed", 403


class TooManyWindows(TatorError):
    code, status = "too_many_windows", 422


class DecodeBusy(TatorError):
    code, status = "decode_busy", 503
