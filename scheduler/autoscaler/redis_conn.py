"""A redis-py client for the controller from a broker-style URL.

- ``redis://`` and ``rediss://`` (TLS; ``ssl_cert_reqs`` / ``ssl_ca_certs`` in the query),
  ``unix://``: ``redis.Redis.from_url``.
- ``sentinel://h1:26379;sentinel://h2:26379/0?master_name=mymaster`` (kombu's form, several
  sentinels separated by ``;``), ``sentinels://`` for TLS: the current master through
  ``redis.sentinel.Sentinel``; ``master_name`` defaults to ``mymaster``.

The password comes from the URL, else from ``password`` (a file or SHOAL_REDIS_PASSWORD).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
from redis.sentinel import Sentinel

from scheduler.autoscaler.config import RedisConfig
from scheduler.autoscaler.fields import ConfigError
from workers.settings import with_password


@dataclass(frozen=True)
class SentinelTarget:
    hosts: tuple[tuple[str, int], ...]
    master_name: str
    db: int
    password: str | None
    tls: bool
    query: Mapping[str, list[str]]


def redis_settings(config: RedisConfig, env: Mapping[str, str]) -> tuple[str, str | None]:
    """(URL, password): SHOAL_REDIS_URL overrides the file; the password from SHOAL_REDIS_PASSWORD
    or the configured ``passwordFile`` (or SHOAL_REDIS_PASSWORD_FILE)."""
    url = env.get("SHOAL_REDIS_URL") or config.url
    password = env.get("SHOAL_REDIS_PASSWORD") or None
    path = config.password_file or env.get("SHOAL_REDIS_PASSWORD_FILE")
    if password is None and path:
        try:
            with open(path, encoding="utf-8") as handle:
                password = handle.read().strip() or None
        except OSError as exc:
            raise ConfigError(
                f"redis.passwordFile: cannot read {path!r} ({exc.strerror})"
            ) from None
    return url, password


def parse_sentinel(url: str) -> SentinelTarget:
    parts = [urlsplit(p) for p in url.split(";") if p.strip()]
    hosts = tuple((p.hostname or "localhost", p.port or 26379) for p in parts)
    first = parts[0]
    query = parse_qs(parts[-1].query or first.query)
    path = (first.path or parts[-1].path).strip("/")
    return SentinelTarget(
        hosts=hosts,
        master_name=(query.get("master_name") or ["mymaster"])[0],
        db=int(path) if path.isdigit() else 0,
        password=next((p.password for p in parts if p.password), None),
        tls=first.scheme == "sentinels",
        query=query,
    )


def _tls_kwargs(query: Mapping[str, list[str]]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"ssl": True}
    for key in ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if query.get(key):
            kwargs[key] = query[key][0]
    return kwargs


def connect(url: str, password: str | None = None, *, timeout_s: float = 5.0) -> redis.Redis:
    """A client that times out instead of hanging (the controller retries with backoff)."""
    timeouts = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    if not url.startswith("sentinel"):
        return redis.Redis.from_url(with_password(url, password), **timeouts)
    target = parse_sentinel(url)
    tls = _tls_kwargs(target.query) if target.tls else {}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.hosts),
        sentinel_kwargs={**timeouts, **tls},
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        **tls,
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master_name, db=target.db, password=target.password or password
    )
    return client
