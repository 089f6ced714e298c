"""The run info of a fenced stack, as typed Python data.

Parsed from the JSON file that ``netfence run`` writes and names in ``$NETFENCE_RUN_INFO``:
the networks (logical key, real name, subnet, internal) and, per service, each
container's addresses and aliases per network and its published ports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Container",
    "Endpoint",
    "Network",
    "PublishedPort",
    "RunInfo",
    "RunInfoError",
    "Service",
]


class RunInfoError(ValueError):
    """The run-info JSON is not what netfence writes."""


@dataclass(frozen=True)
class PublishedPort:
    """A container port published on the host."""

    container_port: int
    protocol: str
    #: The address the engine bound, e.g. ``0.0.0.0`` or ``127.0.0.1``.
    host_ip: str
    host_port: int
    #: ``host:port`` to connect to from this machine (a wildcard binding is given as
    #: loopback; IPv6 in brackets).
    address: str

    @property
    def host(self) -> str:
        """The host to connect to from this machine (IPv6 without brackets)."""
        host = self.address.rsplit(":", 1)[0]
        if host.startswith("[") and host.endswith("]"):
            return host[1:-1]
        return host

    @property
    def port(self) -> int:
        """The port to connect to from this machine."""
        return self.host_port

    def as_tuple(self) -> tuple[str, int]:
        """``(host, port)``, ready for ``socket.create_connection``."""
        return (self.host, self.port)


@dataclass(frozen=True)
class Endpoint:
    """A container's attachment to one network."""

    ip: str | None
    ipv6: str | None
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Container:
    """One container of a service."""

    name: str
    id: str
    #: Real (scoped) network name -> attachment.
    networks: Mapping[str, Endpoint] = field(hash=False)
    ports: tuple[PublishedPort, ...]

    @property
    def ips(self) -> dict[str, str]:
        """Real network name -> this container's IPv4 address on it."""
        return {name: ep.ip for name, ep in self.networks.items() if ep.ip}


@dataclass(frozen=True)
class Service:
    """A service of the stack and its containers (more than one with ``scale``)."""

    name: str
    containers: tuple[Container, ...]

    @property
    def ports(self) -> dict[int, tuple[str, int]]:
        """Container port -> ``(host, port)`` for every published TCP port.

        With several containers or bindings the first one (IPv4 first) wins, as in the
        ``NETFENCE_<SERVICE>_<PORT>`` variables.
        """
        out: dict[int, tuple[str, int]] = {}
        for p in self._published():
            if p.protocol == "tcp":
                out.setdefault(p.container_port, p.as_tuple())
        return out

    @property
    def ips(self) -> dict[str, str]:
        """Real network name -> the first container's IPv4 address on it."""
        return self.containers[0].ips if self.containers else {}

    def published(self, container_port: int, protocol: str = "tcp") -> PublishedPort:
        """The first binding of ``container_port``; ``KeyError`` naming what is published."""
        for p in self._published():
            if p.container_port == container_port and p.protocol == protocol:
                return p
        have = ", ".join(f"{p.container_port}/{p.protocol}" for p in self._published())
        raise KeyError(
            f"service {self.name!r} publishes no {container_port}/{protocol} "
            f"(it publishes: {have or 'nothing'})"
        )

    def address(self, container_port: int, protocol: str = "tcp") -> tuple[str, int]:
        """``(host, port)`` where ``container_port`` is reached from this machine."""
        return self.published(container_port, protocol).as_tuple()

    def url(self, container_port: int, path: str = "/", scheme: str = "http") -> str:
        """``scheme://host:port/path`` for a published TCP port."""
        p = self.published(container_port)
        if not path.startswith("/"):
            path = "/" + path
        return f"{scheme}://{p.address}{path}"

    def _published(self) -> list[PublishedPort]:
        ports = [p for c in self.containers for p in c.ports]
        # IPv4 bindings first, as netfence's exports do.
        return sorted(ports, key=lambda p: ":" in p.host_ip)


@dataclass(frozen=True)
class Network:
    """A network of the stack."""

    #: The logical key in the compose file (``default`` included).
    key: str
    #: The real Docker network name netfence gave it.
    name: str
    #: ``managed``, ``external``, ``proxy``, ``shared`` or ``environment``.
    role: str
    internal: bool
    subnet: str | None


@dataclass(frozen=True)
class RunInfo:
    """Where everything of one fenced stack is: what the ``netfence_stack`` fixture yields."""

    run_id: str
    #: ``run:<run_id>``.
    scope: str
    #: The scoped Compose project name (``docker compose -p PROJECT ...``).
    project: str
    networks: tuple[Network, ...]
    services: Mapping[str, Service] = field(hash=False)
    index: int | None = None

    def service(self, name: str) -> Service:
        """The service ``name``; ``KeyError`` naming the services there are."""
        try:
            return self.services[name]
        except KeyError:
            raise KeyError(
                f"no service {name!r} in the stack (services: {', '.join(self.services)})"
            ) from None

    def network(self, key: str) -> Network:
        """The network with logical key ``key`` (as written in the compose file)."""
        for n in self.networks:
            if n.key == key:
                return n
        raise KeyError(
            f"no network {key!r} in the stack (networks: {', '.join(n.key for n in self.networks)})"
        )

    def address(self, service: str, container_port: int, protocol: str = "tcp") -> tuple[str, int]:
        """``(host, port)`` where ``service``'s ``container_port`` is reached from here."""
        return self.service(service).address(container_port, protocol)

    def url(self, service: str, container_port: int, path: str = "/", scheme: str = "http") -> str:
        """``scheme://host:port/path`` for ``service``'s published ``container_port``."""
        return self.service(service).url(container_port, path, scheme)

    def ip(self, service: str, network_key: str = "default") -> str:
        """The IPv4 address of ``service``'s first container on the network ``network_key``."""
        net = self.network(network_key)
        svc = self.service(service)
        try:
            return svc.ips[net.name]
        except KeyError:
            raise KeyError(
                f"service {service!r} has no IPv4 address on network {network_key!r}"
            ) from None

    def env(self) -> dict[str, str]:
        """The ``NETFENCE_*`` variables ``netfence run`` exports, for subprocesses."""
        out = {"NETFENCE_RUN_ID": self.run_id, "NETFENCE_PROJECT": self.project}
        for name, svc in self.services.items():
            for p in svc._published():
                out.setdefault(_var_name(name, p.container_port, p.protocol), p.address)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> RunInfo:
        """Parses the decoded run-info JSON; ``RunInfoError`` when it is malformed."""
        top = _obj(data, "run info")
        services: dict[str, Service] = {}
        for name, containers in _obj(top.get("services", {}), "services").items():
            where = f"services.{name}"
            services[name] = Service(
                name=name,
                containers=tuple(
                    _container(c, f"{where}[{i}]") for i, c in enumerate(_list(containers, where))
                ),
            )
        index = top.get("index")
        if index is not None and not isinstance(index, int):
            raise RunInfoError(f"index: expected an integer, got {index!r}")
        return cls(
            run_id=_str(top, "run_id", "run info"),
            scope=_str(top, "scope", "run info"),
            project=_str(top, "project", "run info"),
            index=index,
            networks=tuple(
                _network(n, f"networks[{i}]")
                for i, n in enumerate(_list(top.get("networks", []), "networks"))
            ),
            services=services,
        )

    @classmethod
    def from_json(cls, text: str) -> RunInfo:
        """Parses run-info JSON text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise RunInfoError(f"run info is not JSON: {e}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> RunInfo:
        """Reads a run-info file (the one ``$NETFENCE_RUN_INFO`` names)."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _var_name(service: str, port: int, protocol: str) -> str:
    svc = re.sub(r"[^A-Za-z0-9]", "_", service).upper()
    if protocol == "tcp":
        return f"NETFENCE_{svc}_{port}"
    return f"NETFENCE_{svc}_{port}_{protocol.upper()}"


def _obj(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise RunInfoError(f"{where}: expected an object, got {type(v).__name__}")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise RunInfoError(f"{where}: expected an array, got {type(v).__name__}")
    return v


def _str(o: dict[str, Any], key: str, where: str) -> str:
    v = o.get(key)
    if not isinstance(v, str):
        raise RunInfoError(f"{where}.{key}: expected a string, got {v!r}")
    return v


def _opt_str(o: dict[str, Any], key: str, where: str) -> str | None:
    v = o.get(key)
    if v is not None and not isinstance(v, str):
        raise RunInfoError(f"{where}.{key}: expected a string or null, got {v!r}")
    return v


def _int(o: dict[str, Any], key: str, where: str) -> int:
    v = o.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise RunInfoError(f"{where}.{key}: expected an integer, got {v!r}")
    return v


def _bool(o: dict[str, Any], key: str, where: str) -> bool:
    v = o.get(key, False)
    if not isinstance(v, bool):
        raise RunInfoError(f"{where}.{key}: expected true or false, got {v!r}")
    return v


def _network(v: Any, where: str) -> Network:
    o = _obj(v, where)
    return Network(
        key=_str(o, "key", where),
        name=_str(o, "name", where),
        role=_str(o, "role", where),
        internal=_bool(o, "internal", where),
        subnet=_opt_str(o, "subnet", where),
    )


def _container(v: Any, where: str) -> Container:
    o = _obj(v, where)
    networks: dict[str, Endpoint] = {}
    for net, ep in _obj(o.get("networks", {}), f"{where}.networks").items():
        e = _obj(ep, f"{where}.networks.{net}")
        aliases = _list(e.get("aliases", []), f"{where}.networks.{net}.aliases")
        if not all(isinstance(a, str) for a in aliases):
            raise RunInfoError(f"{where}.networks.{net}.aliases: expected strings")
        networks[net] = Endpoint(
            ip=_opt_str(e, "ip", f"{where}.networks.{net}"),
            ipv6=_opt_str(e, "ipv6", f"{where}.networks.{net}"),
            aliases=tuple(aliases),
        )
    ports = []
    for i, p in enumerate(_list(o.get("ports", []), f"{where}.ports")):
        pw = f"{where}.ports[{i}]"
        po = _obj(p, pw)
        ports.append(
            PublishedPort(
                container_port=_int(po, "container_port", pw),
                protocol=_str(po, "protocol", pw),
                host_ip=_str(po, "host_ip", pw),
                host_port=_int(po, "host_port", pw),
                address=_str(po, "address", pw),
            )
        )
    return Container(
        name=_str(o, "name", where),
        id=_str(o, "id", where),
        networks=networks,
        ports=tuple(ports),
    )
