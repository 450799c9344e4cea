"""`RequestGuard`: the ASGI middleware in front of every route of the service.

- A request body over `max_body_bytes` is refused with 413 before anything parses it: by its
  `Content-Length`, or, for a chunked body, as soon as the bytes received pass the limit.
- With an API key configured, the scoring routes need it in `X-API-Key` (or
  `Authorization: Bearer <key>`); without it they answer 401. Health, readiness, metrics, docs
  and `/model` stay open, so probes and scrapers need no secret.
- The routes of the mounted FastAPI app (`/feedback`, `/model`) get their own concurrency limit:
  over it they answer 429 at once instead of queueing.
- Every response carries `X-Model-Version`: the version that answered when the handler set it,
  else the champion loaded at the time.
- A 400 of BentoML's own routes (`/predict`, `/explain`) whose error has no place (`"loc": []`,
  as pydantic reports a body that is not an object at all, `[]` say) gets `["body"]`, so every
  error says where.

Errors have the shape of FastAPI's validation errors (`{"detail": [{"loc", "msg", "type"}]}`), so a
client reads every 4xx of the service the same way.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable

VERSION_HEADER = b"x-model-version"


def error_body(status: int, loc: list[str], message: str, kind: str) -> tuple[int, bytes]:
    return status, json.dumps({"detail": [{"loc": loc, "msg": message, "type": kind}]}).encode()


class RequestGuard:
    def __init__(
        self,
        app,
        *,
        max_body_bytes: int,
        api_key: str | None,
        protected_paths: frozenset[str],
        mounted_paths: frozenset[str],
        mounted_concurrency: int,
        current_version: Callable[[], str | None],
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.api_key = api_key.encode() if api_key else None
        self.protected_paths = protected_paths
        self.mounted_paths = mounted_paths
        self.mounted_slots = asyncio.Semaphore(mounted_concurrency)
        self.current_version = current_version

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_version(send)
        headers = _headers(scope)
        refusal = self._refusal(scope["path"], headers)
        if refusal is None and "content-length" not in headers and scope["method"] in ("POST", "PUT"):
            receive, refusal = await self._buffered(receive)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        if scope["path"] not in self.mounted_paths:
            await self.app(scope, receive, _with_placed_errors(send))
            return
        if self.mounted_slots.locked():
            await _answer(send, *error_body(429, ["path"], f"{scope['path']} is at capacity; retry shortly", "busy"))
            return
        async with self.mounted_slots:
            await self.app(scope, receive, send)

    def _refusal(self, path: str, headers: dict[str, str]) -> tuple[int, bytes] | None:
        if self.api_key is not None and path in self.protected_paths and not self._authorized(headers):
            return error_body(401, ["header", "x-api-key"], "missing or wrong API key", "unauthorized")
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return error_body(400, ["header", "content-length"], "not a byte count", "invalid")
            if int(length) > self.max_body_bytes:
                return self._too_large(int(length))
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
        return bool(given) and hmac.compare_digest(given.encode(), self.api_key)

    def _too_large(self, size: int) -> tuple[int, bytes]:
        message = f"request body of {size} bytes or more is over the limit of {self.max_body_bytes}"
        return error_body(413, ["body"], message, "too_large")

    async def _buffered(self, receive):
        """Reads a body of unknown length up to the limit; returns a receive that replays it."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive, error_body(400, ["body"], "the client went away", "disconnected")
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return receive, self._too_large(size)
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replaying():
            return replay.pop() if replay else await receive()

        return replaying, None

    def _with_version(self, send):
        async def sending(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                version = self.current_version()
                if version and not any(name.lower() == VERSION_HEADER for name, _ in headers):
                    headers.append((VERSION_HEADER, version.encode()))
                message = {**message, "headers": headers}
            await send(message)

        return sending


def _with_placed_errors(send):
    """`send` for BentoML's routes: a 400's errors without a `loc` are placed in the body."""
    held: dict = {}

    async def sending(message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 400:
            held["start"], held["body"] = message, b""
            return
        if "start" not in held:
            await send(message)
            return
        held["body"] += message.get("body", b"")
        if message.get("more_body", False):
            return
        body = _placed(held["body"])
        start = held["start"]
        headers = [(name, value) for name, value in start.get("headers", []) if name.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return sending


def _placed(body: bytes) -> bytes:
    """The error body with `["body"]` for every empty `loc`; any other body as it was."""
    try:
        answer = json.loads(body)
        errors = answer["detail"]
        if not any(isinstance(error, dict) and error.get("loc") == [] for error in errors):
            return body
        answer["detail"] = [{**error, "loc": error["loc"] or ["body"]} for error in errors]
    except (ValueError, KeyError, TypeError):
        return body
    return json.dumps(answer).encode()


def _headers(scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


async def _answer(send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 429:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
