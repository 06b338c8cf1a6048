"""A stand-in for OpenSearch's HTTP transport (not a server): replays recorded exchanges.

Each fixture under ``fixtures/opensearch/`` lists the exact requests the adapter must send
(method, path, query parameters, JSON body; NDJSON as a list of lines) and the responses a
server gives, in the shapes OpenSearch documents. The stand-in fails the test on any request
that differs from the recording, then answers with the recorded response, errors included,
so the real opensearch-py client raises its real exceptions.

``MRBILL_RECORD_OPENSEARCH_CONTRACT=1`` rewrites the recorded requests from what the adapter
sends now (responses are kept): for a deliberate change of the contract, reviewed in the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy._async.http_aiohttp import AsyncConnection

FIXTURES = Path(__file__).parent / "fixtures" / "opensearch"
RECORDING = os.environ.get("MRBILL_RECORD_OPENSEARCH_CONTRACT") == "1"


def _decode_body(body: bytes | str | None) -> Any:
    if body is None:
        return None
    text = body.decode() if isinstance(body, bytes) else body
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) > 1:
        return [json.loads(line) for line in lines]
    return json.loads(text)


class RecordedExchanges:
    def __init__(self, name: str) -> None:
        self.path = FIXTURES / f"{name}.json"
        self.fixture: dict[str, Any] = json.loads(self.path.read_text())
        self.exchanges: list[dict[str, Any]] = self.fixture["exchanges"]
        self.position = 0

    def answer(
        self, method: str, url: str, params: Mapping[str, Any] | None, body: bytes | None
    ) -> dict[str, Any]:
        assert self.position < len(self.exchanges), f"unexpected extra request {method} {url}"
        exchange = self.exchanges[self.position]
        self.position += 1
        sent = {
            "method": method,
            "path": url,
            "params": {key: str(value) for key, value in sorted((params or {}).items())},
            "body": _decode_body(body),
        }
        if RECORDING:
            exchange["request"] = sent
        else:
            assert sent == exchange["request"], f"request {self.position} differs from {self.path.name}"
        response: dict[str, Any] = exchange["response"]
        return response

    def finish(self) -> None:
        if RECORDING:
            self.path.write_text(json.dumps(self.fixture, indent=2, ensure_ascii=False) + "\n")
        assert self.position == len(self.exchanges), (
            f"{len(self.exchanges) - self.position} recorded requests of {self.path.name} were never sent"
        )


def standin_client(exchanges: RecordedExchanges) -> AsyncOpenSearch:
    class ReplayingConnectionStandIn(AsyncConnection):
        """Replaces the aiohttp connection; everything above it is the real client."""

        async def perform_request(
            self,
            method: str,
            url: str,
            params: Mapping[str, Any] | None = None,
            body: bytes | None = None,
            timeout: float | None = None,  # noqa: ASYNC109 - the signature opensearch-py calls
            ignore: Collection[int] = (),
            headers: Mapping[str, str] | None = None,
        ) -> Any:
            response = exchanges.answer(method, url, params, body)
            status = int(response["status"])
            raw = json.dumps(response.get("body"))
            if not (200 <= status < 300) and status not in ignore:
                self._raise_error(status, raw, "application/json")
            return status, {"content-type": "application/json"}, raw

        async def close(self) -> None:
            return None

    return AsyncOpenSearch(
        hosts=["http://opensearch.contract.test:9200"], connection_class=ReplayingConnectionStandIn
    )
