"""Helpers for the example tests: plain HTTP against the fenced stack."""

from __future__ import annotations

import urllib.request

# Straight to the published port, whatever *_proxy variables say.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str) -> str:
    with _opener.open(url, timeout=10) as r:
        body: bytes = r.read()
    return body.decode()
