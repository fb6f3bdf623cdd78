"""A private Redis Cluster on loopback: three masters, three replicas, on free ports.

    with LocalRedisCluster() as cluster:
        url = cluster.url            # redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...
        cluster.kill_master_of(key)  # SIGKILL the master owning key's slot; its replica takes over

Used by the session-store contract suite (``tests/core``) and by the cluster
run of ``make soak``. Needs the ``redis-server`` and ``redis-cli`` binaries.
A short ``cluster-node-timeout`` makes a replica take over about a second
after its master dies.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

NODE_TIMEOUT_MS = 1000


def cluster_port() -> int:
    """A loopback port free for a cluster node and for its bus (port + 10000, so at most 55535)."""
    while True:
        port = random.randint(20_000, 55_535)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port


class ClusterError(RuntimeError):
    """The local cluster could not be started or did not settle in time."""


def _cli(port: int, *args: str, timeout_s: float = 5.0) -> str:
    done = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    return done.stdout


@dataclass
class LocalRedisCluster:
    """Six ``redis-server --cluster-enabled yes`` processes joined by ``redis-cli --cluster create``."""

    masters: int = 3
    node_timeout_ms: int = NODE_TIMEOUT_MS
    ports: list[int] = field(default_factory=list)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shopkeep-cluster-")))
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The seed URL the session store takes (every node, so any one that is up will do)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self, *, timeout_s: float = 30.0) -> float:
        """Start the nodes, create the cluster and wait until every replica is in sync; returns seconds taken."""
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise ClusterError("redis-server and redis-cli are needed for a local cluster")
        started = time.monotonic()
        while len(self.ports) < self.masters * 2:
            port = cluster_port()
            if port not in self.ports:
                self.ports.append(port)
        for port in self.ports:
            self._start_node(port)
        deadline = time.monotonic() + timeout_s
        for port in self.ports:
            self._wait(lambda p=port: _cli(p, "ping").strip() == "PONG", deadline, f"node {port} did not start")
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )
        if created.returncode != 0:
            raise ClusterError(f"redis-cli --cluster create failed:\n{created.stdout[-2000:]}{created.stderr[-2000:]}")
        self._wait(self._settled, deadline, "cluster did not settle (state ok, every replica in sync)")
        return time.monotonic() - started

    def _start_node(self, port: int) -> None:
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(self.node_timeout_ms),
             "--save", "", "--appendonly", "no", "--dir", str(node_dir), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def _wait(check: object, deadline: float, message: str) -> None:
        while time.monotonic() < deadline:
            if check():  # type: ignore[operator]
                return
            time.sleep(0.05)
        raise ClusterError(message)

    def _alive_ports(self) -> list[int]:
        return [p for p, proc in self.processes.items() if proc.poll() is None]

    def _settled(self) -> bool:
        """Every live node sees state ok, and every live master has its live replicas in sync."""
        for port in self._alive_ports():
            if "cluster_state:ok" not in _cli(port, "cluster", "info"):
                return False
        for port in self.master_ports():
            info = _cli(port, "info", "replication")
            want = sum(1 for line in self._nodes_lines(port) if "slave" in line.split()[2]
                       and self._port_of(line) in self._alive_ports() and self._master_id_of(line) == self._id(port))
            if info.count("state=online") < want:
                return False
        return True

    @staticmethod
    def _nodes_lines(port: int) -> list[str]:
        return [line for line in _cli(port, "cluster", "nodes").splitlines() if line.strip()]

    @staticmethod
    def _port_of(line: str) -> int:
        return int(line.split()[1].split("@")[0].rsplit(":", 1)[1])

    @staticmethod
    def _master_id_of(line: str) -> str:
        return line.split()[3]

    def _id(self, port: int) -> str:
        for line in self._nodes_lines(port):
            if "myself" in line.split()[2]:
                return line.split()[0]
        return ""

    def master_ports(self) -> list[int]:
        """Live nodes that serve slots as masters, as the cluster sees them now."""
        alive = self._alive_ports()
        for port in alive:
            lines = self._nodes_lines(port)
            if lines:
                return [self._port_of(ln) for ln in lines
                        if "master" in ln.split()[2] and "fail" not in ln.split()[2]
                        and len(ln.split()) > 8 and self._port_of(ln) in alive]
        return []

    def master_of(self, key: str) -> int:
        """Port of the master that owns ``key``'s slot now."""
        port = self._alive_ports()[0]
        slot = int(_cli(port, "cluster", "keyslot", key).strip())
        for line in self._nodes_lines(port):
            parts = line.split()
            if "master" not in parts[2] or "fail" in parts[2]:
                continue
            for span in parts[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return self._port_of(line)
        raise ClusterError(f"no master serves slot {slot}")

    def kill(self, port: int) -> float:
        """SIGKILL one node (no goodbye to its peers); returns the monotonic time it died."""
        proc = self.processes[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        return time.monotonic()

    def kill_master_of(self, key: str) -> tuple[int, float]:
        """Kill the master owning ``key``'s slot; returns its port and when it died."""
        port = self.master_of(key)
        return port, self.kill(port)

    def wait_failover(self, dead: int, key: str, *, timeout_s: float = 30.0) -> float:
        """Wait until a live master serves ``key``'s slot (the dead one's replica took over); returns when."""
        deadline = time.monotonic() + timeout_s

        def recovered() -> bool:
            try:
                return self.master_of(key) != dead and all(
                    "cluster_state:ok" in _cli(p, "cluster", "info") for p in self._alive_ports())
            except ClusterError:
                return False

        self._wait(recovered, deadline, f"no failover after killing {dead}")
        return time.monotonic()

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
