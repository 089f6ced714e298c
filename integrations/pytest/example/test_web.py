"""The web front end, reached through the port the fixture says it is published on."""

from __future__ import annotations

import urllib.error

import pytest
from helpers import http_get

from pytest_netfence import RunInfo


def test_home_page(netfence_stack: RunInfo) -> None:
    assert "welcome to the shop" in http_get(netfence_stack.url("web", 80))


def test_missing_page_is_404(netfence_stack: RunInfo) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        http_get(netfence_stack.url("web", 80, "/nope.html"))
    assert e.value.code == 404


def test_web_reaches_api_by_its_old_container_name(netfence_stack: RunInfo) -> None:
    assert http_get(netfence_stack.url("web", 80, "/cgi-bin/api")).strip() == "api ok"


def test_fixed_host_port_was_replaced(netfence_stack: RunInfo) -> None:
    host, port = netfence_stack.address("web", 80)
    assert host == "127.0.0.1"
    assert port != 8080
