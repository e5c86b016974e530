"""How every shoal process reaches Redis: one settings type, one constructor, one ``connect()``.

URLs, as kombu takes them:

- ``redis://[:password@]host:port/db`` and ``rediss://`` (TLS; ``ssl_cert_reqs``,
  ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile`` in the query), ``unix:///path?db=0``;
- ``sentinel://h1:26379;sentinel://h2:26379/0?master_name=mymaster`` (several sentinels joined by
  ``;``; ``master_name`` defaults to ``mymaster``), ``sentinels://`` for TLS.

The password, one precedence everywhere (worker, controller, beat, load, status, dlq):

1. a password written in the URL;
2. ``SHOAL_REDIS_PASSWORD``;
3. the file named by ``SHOAL_REDIS_PASSWORD_FILE`` (the chart mounts the Secret there);
4. the file named by a config file's ``redis.passwordFile`` (the controller's config).

The URL: a command's ``--redis-url``, else ``SHOAL_REDIS_URL``, else the config file's
``redis.url``, else ``redis://localhost:6379/0``.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from contract.fields import ConfigError, Helm, Invalid, Kind, Setting
from contract.kinds import Text
from contract.secrets import read_secret_file, secret_from_env

URL_ENV = "SHOAL_REDIS_URL"
PASSWORD_ENV = "SHOAL_REDIS_PASSWORD"
DEFAULT_URL = "redis://localhost:6379/0"
SCHEMES = ("redis", "rediss", "sentinel", "sentinels", "unix")
TLS_QUERY_KEYS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
DEFAULT_TIMEOUT_S = 5.0


def check_url(url: str) -> str:
    """``url`` if it is a Redis URL shoal can use; ``ValueError`` saying what is wrong."""
    for part in url.split(";"):
        parts = urlsplit(part.strip())
        if parts.scheme not in SCHEMES:
            accepted = ", ".join(s + "://" for s in SCHEMES)
            raise ValueError(f"expected a Redis URL ({accepted}), got scheme {parts.scheme!r}")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("the URL has no host")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port in URL ({exc})") from None
    return url


class RedisUrl(Kind[str]):
    """The kind of a setting that holds a Redis URL (:func:`check_url`)."""

    what = "a Redis URL"

    def parse_text(self, text: str) -> str:
        return self.parse_value(text.strip(), "")

    def parse_value(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(value)
        try:
            return check_url(value)
        except ValueError as exc:
            raise Invalid(str(exc)) from None

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^({'|'.join(SCHEMES)})://"}


URL = Setting(
    RedisUrl(),
    DEFAULT_URL,
    "The broker: redis://, rediss:// (TLS), sentinel:// or unix://.",
    key="url",
    env=URL_ENV,
    options=("--redis-url",),
    helm=Helm(
        "redis.url",
        {"default": "redis://redis:6379/0"},
        "in a cluster, Redis is a Service named redis; on a laptop, localhost",
    ),
)
PASSWORD = Setting(
    Text(),
    None,
    "The Redis password, put into URLs that carry none.",
    env=PASSWORD_ENV,
    secret=True,
)
PASSWORD_FILE = Setting(
    Text(min_length=1),
    None,
    "A file holding the Redis password (a mounted Secret); the environment wins.",
    key="passwordFile",
)


def with_password(url: str, password: str | None) -> str:
    """Put ``password`` into ``url`` unless the URL already carries one (or is a socket)."""
    if not password:
        return url
    if ";" in url:
        return ";".join(with_password(part, password) for part in url.split(";"))
    parts = urlsplit(url)
    if parts.password or parts.scheme == "unix":
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def ssl_options(url: str) -> dict[str, Any] | None:
    """TLS options (kombu's ``broker_use_ssl`` form) for a rediss:// or sentinels:// URL."""
    parts = urlsplit(url.split(";")[-1])
    if parts.scheme not in ("rediss", "sentinels"):
        return None
    query = parse_qs(parts.query)
    reqs = (query.get("ssl_cert_reqs") or ["required"])[0].lower()
    mode = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL}.get(reqs, ssl.CERT_REQUIRED)
    options: dict[str, Any] = {"ssl_cert_reqs": mode}
    for key in TLS_QUERY_KEYS[1:]:
        if query.get(key):
            options[key] = query[key][0]
    return options


@dataclass(frozen=True)
class SentinelTarget:
    hosts: tuple[tuple[str, int], ...]
    master_name: str
    db: int
    password: str | None
    tls: bool
    query: Mapping[str, list[str]]


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


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is and how to log in. Build it with :meth:`from_env`."""

    url: str = URL.field()
    password: str | None = PASSWORD.field()
    """From ``SHOAL_REDIS_PASSWORD`` or a password file; a password in the URL wins."""

    def __post_init__(self) -> None:
        check_url(self.url)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        url: str | None = None,
        password_file: str | None = None,
        url_option: str | None = None,
    ) -> RedisSettings:
        """The settings by the one precedence (module docstring): ``url`` and ``password_file``
        from a config file, ``url_option`` from ``--redis-url``. :class:`ConfigError` names the
        source of a bad value."""
        sources = ((URL.options[0], url_option), (URL_ENV, env.get(URL_ENV)),
                   ("redis.url", url), ("the default", DEFAULT_URL))  # fmt: skip
        where, chosen = next((name, text) for name, text in sources if text and text.strip())
        try:
            chosen = URL.kind.parse_text(chosen)
        except Invalid as exc:
            raise ConfigError(where, str(exc)) from None
        try:
            password = secret_from_env(env, PASSWORD_ENV)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if password is None and password_file:
            try:
                password = read_secret_file(password_file) or None
            except OSError as exc:
                raise ConfigError(
                    "redis.passwordFile", f"cannot read {password_file!r} ({exc.strerror})"
                ) from None
        return cls(url=chosen, password=password)

    @property
    def url_with_password(self) -> str:
        """The URL as kombu and Celery's result backend take it, the password written in."""
        return with_password(self.url, self.password)

    @property
    def is_sentinel(self) -> bool:
        return self.url.startswith("sentinel")

    def connect(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
        """A redis-py client that times out instead of hanging (callers retry with backoff)."""
        return connect(self.url, self.password, timeout_s=timeout_s)


def connect(url: str, password: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """A redis-py client for ``url`` (Sentinel: the current master), with timeouts."""
    import redis
    from redis.sentinel import Sentinel

    timeouts = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    if not url.startswith("sentinel"):
        return redis.Redis.from_url(with_password(url, password), **timeouts)
    target = parse_sentinel(url)
    tls: dict[str, Any] = {}
    if target.tls:
        tls = {"ssl": True}
        tls.update({k: target.query[k][0] for k in TLS_QUERY_KEYS if target.query.get(k)})
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(target.hosts),
        sentinel_kwargs={**timeouts, **tls},
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        **tls,
    )
    return sentinel.master_for(  # type: ignore[no-untyped-call]
        target.master_name, db=target.db, password=target.password or password
    )
