"""A real Redis master, one replica and three Sentinels on free loopback ports, stopped by PID.

Sentinel settings make a failover finish within seconds: ``down-after-milliseconds 1000``,
``failover-timeout 3000``, quorum 2.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from redis.sentinel import Sentinel

from tests.common.processes import free_port
from tests.common.processes import stop_pid
from tests.common.processes import wait_for

MASTER_NAME = "mymaster"
PASSWORD = "sentinel-test-password"


def _binary(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: run `make test`, which installs Redis")
    return found


class RedisCluster:
    """Master + replica + 3 Sentinels, with ``requirepass`` everywhere (as the operator sets)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="labelhive-redis-"))
        self.master_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def sentinels(self) -> str:
        """The ``REDIS_SENTINELS`` value."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def env(self) -> dict[str, str]:
        return {
            "REDIS_SENTINELS": self.sentinels,
            "REDIS_MASTER": MASTER_NAME,
            "REDIS_PASSWORD": PASSWORD,
        }

    def _server(self, name: str, port: int, extra: str = "") -> None:
        data = self.dir / name
        data.mkdir()
        conf = data / "redis.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {data}\nrequirepass {PASSWORD}\n"
            f"masterauth {PASSWORD}\nsave ''\nappendonly no\nprotected-mode no\n{extra}"
        )
        self._start(name, [_binary("redis-server"), str(conf)])
        wait_for(lambda: self._pings(port), 15, f"redis {name}")

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def _pings(self, port: int, password: str | None = PASSWORD) -> bool:
        try:
            with Redis(port=port, password=password, socket_timeout=0.5) as client:
                return bool(client.ping())
        except RedisError:
            return False

    def start(self) -> None:
        self._server("master", self.master_port)
        self._server("replica", self.replica_port, f"replicaof 127.0.0.1 {self.master_port}\n")
        wait_for(self._replica_in_sync, 15, "redis replication")
        for number, port in enumerate(self.sentinel_ports):
            conf = self.dir / f"sentinel-{number}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\nrequirepass {PASSWORD}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel auth-pass {MASTER_NAME} {PASSWORD}\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 3000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
                f"sentinel sentinel-pass {PASSWORD}\n"
            )
            self._start(f"sentinel-{number}", [_binary("redis-sentinel"), str(conf)])
        wait_for(self._sentinels_agree, 20, "Sentinels discovering each other and the replica")

    def _replica_in_sync(self) -> bool:
        with Redis(port=self.replica_port, password=PASSWORD, socket_timeout=0.5) as client:
            return client.info("replication").get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            try:
                with Redis(port=port, password=PASSWORD, socket_timeout=0.5) as client:
                    state = client.sentinel_master(MASTER_NAME)
            except RedisError:
                return False
            if int(state.get("num-other-sentinels", 0)) < 2 or int(state.get("num-slaves", 0)) < 1:
                return False
        return True

    def sentinel_client(self) -> Sentinel:
        return Sentinel(
            [("127.0.0.1", port) for port in self.sentinel_ports],
            sentinel_kwargs={"password": PASSWORD, "socket_timeout": 0.5},
            password=PASSWORD,
            socket_timeout=0.5,
        )

    def master_address(self) -> tuple[str, int]:
        return self.sentinel_client().discover_master(MASTER_NAME)

    def kill_master(self) -> None:
        """SIGKILL the current master process (found by the port Sentinel reports)."""
        _, port = self.master_address()
        name = "master" if port == self.master_port else "replica"
        stop_pid(self.procs[name], signal.SIGKILL)

    def stop(self) -> None:
        for proc in self.procs.values():
            stop_pid(proc, signal.SIGTERM, timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer(RedisCluster):
    """One Redis master alone (no replica, no Sentinels), with the same password."""

    def start(self) -> None:
        self._server("master", self.master_port)

    def config(self) -> dict[str, str]:
        """The app's ``REDIS_*`` configuration for this server."""
        return {"REDIS_URL": f"redis://127.0.0.1:{self.master_port}/0", "REDIS_PASSWORD": PASSWORD}


@contextlib.contextmanager
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
