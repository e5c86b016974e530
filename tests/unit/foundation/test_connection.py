"""One Redis settings type for every process: the URL rules and the password precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.connection import RedisSettings, check_url, parse_sentinel, with_password
from scheduler.autoscaler.config import RedisConfig


def test_sentinel_urls_in_kombus_form() -> None:
    target = parse_sentinel(
        "sentinel://:pw@s1:26379;sentinel://s2:26380;sentinel://s3/2?master_name=main"
    )
    assert target.hosts == (("s1", 26379), ("s2", 26380), ("s3", 26379))
    assert (target.master_name, target.db, target.password, target.tls) == ("main", 2, "pw", False)
    assert parse_sentinel("sentinels://s1:26379").tls is True
    assert parse_sentinel("sentinel://s1:26379").master_name == "mymaster"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "env-file").write_text("from-env-file\n")
    (tmp_path / "config-file").write_text("from-config-file\n")
    return {"env": str(tmp_path / "env-file"), "config": str(tmp_path / "config-file")}


@pytest.mark.parametrize(
    ("url", "env", "config_file", "expected"),
    [
        # 1. a password in the URL wins over everything
        ("redis://:inurl@h:6379/0", {"SHOAL_REDIS_PASSWORD": "v"}, True, "inurl"),
        # 2. SHOAL_REDIS_PASSWORD over both files
        ("redis://h:6379/0",
         {"SHOAL_REDIS_PASSWORD": "v", "SHOAL_REDIS_PASSWORD_FILE": "env"}, True, "v"),
        # 3. SHOAL_REDIS_PASSWORD_FILE over the config file's redis.passwordFile
        ("redis://h:6379/0", {"SHOAL_REDIS_PASSWORD_FILE": "env"}, True, "from-env-file"),
        # 4. the config file's redis.passwordFile
        ("redis://h:6379/0", {}, True, "from-config-file"),
        ("redis://h:6379/0", {}, False, None),
    ],
)  # fmt: skip
def test_the_password_follows_one_precedence(
    files: dict[str, str], url: str, env: dict[str, str], config_file: bool, expected: str | None
) -> None:
    env = {k: files.get(v, v) for k, v in env.items()}
    settings = RedisSettings.from_env(
        env, url=url, password_file=files["config"] if config_file else None
    )
    client = settings.connect()
    try:
        assert client.connection_pool.connection_kwargs.get("password") == expected
    finally:
        client.close()


def test_the_url_option_beats_the_environment_which_beats_the_config_file() -> None:
    env = {"SHOAL_REDIS_URL": "rediss://env:6380/1"}
    assert RedisSettings.from_env(env, url="redis://cfg/0").url == "rediss://env:6380/1"
    assert RedisSettings.from_env(env, url_option="redis://opt/2").url == "redis://opt/2"
    assert RedisSettings.from_env({}, url="redis://cfg/0").url == "redis://cfg/0"
    assert RedisSettings.from_env({}).url == "redis://localhost:6379/0"


def test_the_controller_config_reads_redis_the_same_way(files: dict[str, str]) -> None:
    config = RedisConfig(url="redis://file:6379/0", password_file=files["config"])
    assert config.settings({}) == RedisSettings("redis://file:6379/0", "from-config-file")
    env = {"SHOAL_REDIS_URL": "rediss://env:6380/1", "SHOAL_REDIS_PASSWORD": "fromenv"}
    assert config.settings(env) == RedisSettings("rediss://env:6380/1", "fromenv")


@pytest.mark.parametrize(
    ("env", "password_file", "message"),
    [
        ({"SHOAL_REDIS_URL": "http://h"}, None, r"^SHOAL_REDIS_URL: expected a Redis URL"),
        ({"SHOAL_REDIS_PASSWORD_FILE": "/nope"}, None, r"^SHOAL_REDIS_PASSWORD_FILE: cannot read"),
        ({}, "/nope", r"^redis.passwordFile: cannot read"),
    ],
)
def test_a_bad_source_is_named(
    env: dict[str, str], password_file: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RedisSettings.from_env(env, password_file=password_file)


@pytest.mark.parametrize("bad", ["redis://", "http://h:1", "redis://h:notaport/0", "h:6379"])
def test_urls_that_cannot_work_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_url(bad)


def test_a_password_goes_into_every_sentinel_and_never_over_one_given() -> None:
    assert with_password("sentinel://a:1;sentinel://b:2", "p") == (
        "sentinel://:p@a:1;sentinel://:p@b:2"
    )
    assert with_password("redis://:mine@h:1/0", "p") == "redis://:mine@h:1/0"
    assert with_password("unix:///tmp/r.sock", "p") == "unix:///tmp/r.sock"
    assert repr(RedisSettings("redis://h/0", "secret")).count("secret") == 0
