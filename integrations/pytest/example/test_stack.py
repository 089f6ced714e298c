"""What the fixture says about the stack: this worker's own scope, networks and addresses."""

from __future__ import annotations

import ipaddress
import os

from pytest_netfence import RunInfo


def test_run_id_is_this_workers(netfence_stack: RunInfo) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    assert netfence_stack.run_id.endswith(f"-{worker}")
    assert netfence_stack.scope == f"run:{netfence_stack.run_id}"
    assert netfence_stack.run_id in netfence_stack.project


def test_networks_are_fenced(netfence_stack: RunInfo) -> None:
    front, back = netfence_stack.network("front"), netfence_stack.network("back")
    # Not the fixed names and subnet of the file: this copy's own.
    assert front.name != "shop-front"
    assert back.name != "shop-back"
    assert front.subnet is not None
    assert front.subnet != "10.98.0.0/16"
    assert back.internal
    assert not front.internal


def test_container_ips_are_in_their_subnets(netfence_stack: RunInfo) -> None:
    for key, service in [("front", "web"), ("front", "api"), ("back", "api"), ("back", "db")]:
        net = netfence_stack.network(key)
        assert net.subnet is not None
        ip = netfence_stack.ip(service, key)
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(net.subnet)


def test_old_container_names_are_aliases(netfence_stack: RunInfo) -> None:
    db = netfence_stack.service("db").containers[0]
    back = netfence_stack.network("back").name
    assert "shop-db" in db.networks[back].aliases
    assert db.name != "shop-db"


def test_env_matches_netfence_run_exports(netfence_stack: RunInfo) -> None:
    env = netfence_stack.env()
    host, port = netfence_stack.address("web", 80)
    assert env["NETFENCE_WEB_80"] == f"{host}:{port}"
    assert env["NETFENCE_PROJECT"] == netfence_stack.project
