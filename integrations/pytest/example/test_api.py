"""The api, published on loopback only, and the db behind it on an internal network."""

from __future__ import annotations

from helpers import http_get

from pytest_netfence import RunInfo


def test_api_status(netfence_stack: RunInfo) -> None:
    assert http_get(netfence_stack.url("api", 8000, "/status.txt")).strip() == "api ok"


def test_api_reaches_db_by_its_old_container_name(netfence_stack: RunInfo) -> None:
    assert http_get(netfence_stack.url("api", 8000, "/cgi-bin/db")).strip() == "hello-db"


def test_api_stays_on_loopback(netfence_stack: RunInfo) -> None:
    assert netfence_stack.service("api").published(8000).host_ip == "127.0.0.1"


def test_db_publishes_nothing(netfence_stack: RunInfo) -> None:
    assert netfence_stack.service("db").ports == {}
