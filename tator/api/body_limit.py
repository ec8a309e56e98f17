"""Every request body is bounded before it is read (pure ASGI).

FastAPI reads a JSON (or any non-upload) body into memory whole before the route can look at it, and
nothing else bounds it: a client that declared 10 GiB would be buffered until the server ran out of memory.
Upload bodies (multipart forms, raw `application/octet-stream` or `application/zip` chunks) are streamed to
disk by their routes and may be as large as `TATOR_MAX_UPLOAD_BYTES`; every other body may be as large as
`TATOR_MAX_JSON_BYTES` (by default room for a base64 image of `TATOR_IMAGE_MAX_BYTES`, plus 16 MiB).

A declared `Content-Length` over the limit is refused at once, without reading a byte: 413
`request_body_too_large`, or `upload_too_large` for an upload (the code upload routes answer themselves). A
body without one (chunked) is counted as it arrives, and the app's own answer is replaced by the same
refusal the moment the count passes the limit, whatever the route did with the error (FastAPI turns errors
raised while it reads a body into a 400).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tator.api.guards import header, media_type, refuse
from tator.errors import RequestBodyTooLarge, TatorError, UploadTooLarge

UPLOAD_MEDIA_TYPES = frozenset({"multipart/form-data", "application/octet-stream", "application/zip"})
MULTIPART_SLACK = 1024 * 1024  # part headers and boundaries around a file of the upload limit


def json_limit(image_max_bytes: int) -> int:
    """Room for an image of `image_max_bytes` as base64 text, plus 16 MiB for the rest of the body."""
    return -(-image_max_bytes // 3) * 4 + 16 * 1024 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, upload_bytes: int, other_bytes: int) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.other_bytes = other_bytes

    def limit_for(self, scope: Scope) -> tuple[int, TatorError]:
        """The byte limit of this request's body, and the error that refuses a larger one."""
        if media_type(scope) in UPLOAD_MEDIA_TYPES:
            error: TatorError = UploadTooLarge(
                f"the upload exceeds this server's limit of {self.upload_bytes} bytes (TATOR_MAX_UPLOAD_BYTES)",
                limit_bytes=self.upload_bytes,
            )
            return self.upload_bytes + MULTIPART_SLACK, error
        error = RequestBodyTooLarge(
            f"the request body exceeds this server's limit of {self.other_bytes} bytes for a body that is not an "
            "upload (TATOR_MAX_JSON_BYTES)",
            limit_bytes=self.other_bytes,
        )
        return self.other_bytes, error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, too_large = self.limit_for(scope)
        declared = header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await refuse(send, too_large)
            return
        state = _Count()

        async def counted_receive() -> Message:
            if state.exceeded:  # a second reader (FastAPI reads again after an error) must not wait for more
                raise too_large
            message = await receive()
            if message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                if state.received > limit:
                    state.exceeded = True
                    raise too_large
            return message

        async def guarded_send(message: Message) -> None:
            if not state.exceeded:
                state.started |= message["type"] == "http.response.start"
                await send(message)
            elif message["type"] == "http.response.start" and not state.started:
                state.started = True
                await refuse(send, too_large)  # the app's own answer to the error is dropped

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state.exceeded or state.started:
                raise
            state.started = True  # the error escaped the app in some wrapping: answer it here
            await refuse(send, too_large)


class _Count:
    """Bytes received so far, whether they passed the limit, and whether an answer has started."""

    def __init__(self) -> None:
        self.received = 0
        self.exceeded = False
        self.started = False
