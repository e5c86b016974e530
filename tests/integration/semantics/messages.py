"""Raw kombu envelopes, as a stock Celery client LPUSHes them onto a queue's Redis list."""

from __future__ import annotations

import base64
import json
import pickle
import uuid
from typing import Any


def envelope(
    task: str,
    body: bytes,
    *,
    queue: str,
    content_type: str = "application/json",
    priority: int = 0,
    headers: dict[str, Any] | None = None,
) -> str:
    task_id = str(uuid.uuid4())
    message: dict[str, Any] = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": content_type,
        "headers": {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": "()",
            "kwargsrepr": "{}",
            "origin": "test",
            "ignore_result": False,
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": priority,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    if headers is not None:
        message["headers"] = headers
    return json.dumps(message)


def json_body(*args: Any, **kwargs: Any) -> bytes:
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    return json.dumps([list(args), kwargs, embed]).encode()


def pickle_body(*args: Any, **kwargs: Any) -> bytes:
    return pickle.dumps((args, kwargs, {}))
