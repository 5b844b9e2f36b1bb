"""Call a redis-binding-worker binding from Python with nats-py.

    pip install -r requirements.txt
    NATS_URL=nats://127.0.0.1:4222 python binding.py

The wire format is docs/PROTOCOL.md: one JSON request per NATS request to
`bindings.<name>`; errors come back with a `Nats-Service-Error-Code` header.
"""

import asyncio
import json
import os

import nats
from nats.errors import NoRespondersError, TimeoutError


class BindingError(Exception):
    """A worker's error reply: status, errorCode and message (PROTOCOL section 5)."""

    def __init__(self, status: int, error_code: str, message: str):
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message

    @property
    def retryable(self) -> bool:
        # 503 (Redis unreachable, worker busy) and 504 (timeout) may pass; the rest will not.
        return self.status in (503, 504)


class Binding:
    """One binding (Dapr component) served on `<prefix>.<name>`."""

    def __init__(self, nc, name: str, prefix: str = "bindings", timeout: float = 5.0):
        self.nc = nc
        self.subject = f"{prefix}.{name}"
        self.timeout = timeout

    async def _send(self, payload: bytes, headers: dict) -> bytes:
        # The worker gets the same deadline and answers 504 when it passes;
        # wait a little longer so that answer arrives rather than a bare timeout.
        headers = {"Binding-Timeout": f"{int(self.timeout * 1000)}ms", **headers}
        msg = await self.nc.request(self.subject, payload, timeout=self.timeout + 0.25, headers=headers)
        status = (msg.headers or {}).get("Nats-Service-Error-Code")
        if status:
            body = json.loads(msg.data or b"{}")
            raise BindingError(int(status), body.get("errorCode", ""), body.get("message", ""))
        return msg.data

    async def invoke(self, operation: str, metadata: dict, data=None) -> bytes:
        request = {"operation": operation, "metadata": metadata}
        if data is not None:
            request["data"] = data
        return await self._send(json.dumps(request).encode(), {})

    async def create(self, key: str, value, ttl: str | int | None = None) -> None:
        metadata = {"key": key}
        if ttl is not None:
            metadata["ttlInSeconds"] = str(ttl)
        await self.invoke("create", metadata, value)

    async def get(self, key: str, delete: bool = False):
        metadata = {"key": key, **({"delete": "true"} if delete else {})}
        reply = await self.invoke("get", metadata)
        return json.loads(reply)["data"] if reply else None

    async def delete(self, key: str) -> None:
        await self.invoke("delete", {"key": key})

    async def increment(self, key: str, ttl: str | int | None = None) -> int:
        metadata = {"key": key, **({"ttlInSeconds": str(ttl)} if ttl is not None else {})}
        return int(json.loads(await self.invoke("increment", metadata))["data"])

    async def create_bytes(self, key: str, value: bytes) -> None:
        """Raw mode: the bytes are stored as they are."""
        headers = {
            "Content-Type": "application/octet-stream",
            "operation": "create",
            "metadata.key": key,
        }
        await self._send(value, headers)

    async def get_bytes(self, key: str) -> bytes:
        headers = {"Content-Type": "application/octet-stream", "operation": "get", "metadata.key": key}
        return await self._send(b"", headers)


async def main() -> None:
    nc = await nats.connect(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    try:
        cache = Binding(nc, "cache")
        await cache.create("greeting", {"hello": "world"}, ttl="1h")
        print("get greeting:", await cache.get("greeting"))
        print("increment hits:", await cache.increment("hits"))
        await cache.create_bytes("logo", b"\x89PNG")
        print("get logo (raw):", await cache.get_bytes("logo"))
        print("get greeting, deleting it:", await cache.get("greeting", delete=True))
        print("get greeting again:", await cache.get("greeting"))
        try:
            await cache.create("bad", 1, ttl=0)
        except BindingError as error:
            print(f"create with ttl 0: {error.status} {error.error_code}, retryable: {error.retryable}")
        try:
            await Binding(nc, "nosuchbinding").get("k")
        except NoRespondersError:
            print("unknown binding: no responders")
        except TimeoutError:
            print("no reply in time")
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
