"""The pod runner: a tiny kubelet for shoal pods on kwok nodes.

kwok marks scheduled pods Running but runs nothing. For every Running pod of the release this runner
starts the pod's main container as a local process: the container's ``command``/``args`` (the image
entrypoint is ``shoal``, run here as ``python -m shoal``), the container's environment (plain
values, ``fieldRef``, ``configMapKeyRef``, ``secretKeyRef``, ``envFrom``) and its ConfigMap/Secret/
emptyDir volumes written to a folder per pod (paths under a ``mountPath`` in args and env are
rewritten to that folder). Like the kubelet it sets ``HOSTNAME`` to the pod name. When the pod goes
away (deleted, scaled in) the process gets SIGTERM and, after the grace period of the deletion
(the pod's ``deletionGracePeriodSeconds`` when the runner first sees it terminating, else its
``terminationGracePeriodSeconds``), SIGKILL to its process group. A deletion with grace period 0
(``kubectl delete --grace-period=0 --force``, or the API's ``gracePeriodSeconds=0``) removes the
pod from the API at once, with no terminating state to poll: a watch catches it and the process
group gets SIGKILL at once, with no SIGTERM (the kubelet would still send SIGTERM and wait its
2-s minimum; the runner plays the harsher case, an OOM kill or a lost node). A process that exits
while its pod still exists is restarted (restartPolicy Always) and counted.

Per component hooks adapt what a pod would get from the cluster and a laptop cannot: free ports
instead of fixed ones, and for the autoscaler a kubeconfig holding a token of the pod's
ServiceAccount from the TokenRequest API (instead of the in-cluster token mount).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from tests.support.procs import Proc

log = logging.getLogger("podrunner")

COMPONENT_LABEL = "app.kubernetes.io/component"

# hook(pod, argv, env, pod_dir) -> (argv, env); may rewrite files under pod_dir.
Hook = Callable[[Any, list[str], dict[str, str], Path], tuple[list[str], dict[str, str]]]
# file_filter(pod_name, file_name, text) -> text: adapts a mounted file (e.g. fixed ports).
FileFilter = Callable[[str, str, str], str]

VANISHED_GRACE_S = 1.0
"""A pod gone from the list is terminated this long after the runner first missed it, when the
watch has not reported its deletion (and with it the deletion's grace period) by then."""
WATCH_TIMEOUT_S = 10


@dataclass
class LocalPod:
    name: str
    uid: str
    component: str
    proc: Proc
    grace_s: float
    started_at: float
    argv: list[str]
    env: dict[str, str]
    pod: Any = None
    kill_at: float | None = None
    restarts: int = 0
    crashed: bool = False


@dataclass
class Event:
    at: float
    kind: str  # start | term | kill | exit | restart
    pod: str
    component: str
    detail: str = ""


@dataclass
class PodRunner:
    api: k8s.CoreV1Api
    namespace: str
    label_selector: str
    workdir: Path
    base_env: dict[str, str]
    hooks: dict[str, Hook] = field(default_factory=dict)
    file_filters: dict[str, FileFilter] = field(default_factory=dict)
    volume_refresh_s: float = 2.0
    poll_interval_s: float = 0.3
    running: dict[str, LocalPod] = field(default_factory=dict)
    finished: list[LocalPod] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _watch_thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _term_lock: threading.Lock = field(default_factory=threading.Lock)
    _last_refresh: float = 0.0
    # pod uid -> the grace period of its deletion, as first seen (a later forced deletion, like
    # kwok's removal of a terminating pod, does not shorten what the deleter asked for).
    _deletion_grace_s: dict[str, float] = field(default_factory=dict)
    _missing_since: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="podrunner", daemon=True)
        self._thread.start()
        self._watch_thread = threading.Thread(
            target=self._watch_loop, name="podrunner-watch", daemon=True
        )
        self._watch_thread.start()

    def stop(self) -> None:
        """Stop watching, SIGTERM every process, SIGKILL what is left after a short grace."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self._watch_thread is not None:
            self._watch_thread.join(WATCH_TIMEOUT_S + 5)
        with self._lock:
            pods = list(self.running.values())
            self.running.clear()
        for pod in pods:
            if pod.kill_at is None:  # a second SIGTERM could turn Celery's warm shutdown cold
                pod.proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for pod in pods:
            pod.proc.wait(max(0.1, deadline - time.monotonic()))
            pod.proc.kill_group(signal.SIGKILL)
            pod.proc.wait(5)
            self.finished.append(pod)

    # ------------------------------------------------------------ queries
    def local(self, component: str | None = None) -> list[LocalPod]:
        with self._lock:
            return [
                p for p in self.running.values() if component is None or p.component == component
            ]

    def live(self, component: str | None = None) -> list[LocalPod]:
        """Local pods whose process runs and whose pod is not terminating."""
        return [p for p in self.local(component) if p.kill_at is None and p.proc.alive()]

    def count(self, kind: str, component: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for e in self.events
                if e.kind == kind and (component is None or e.component == component)
            )

    def logs(self, component: str | None = None, chars: int = 3000) -> str:
        with self._lock:
            pods = [*self.finished, *self.running.values()]
        return "\n".join(
            f"--- {p.component} {p.name} (pid {p.proc.pid}, restarts {p.restarts})\n"
            + p.proc.output()[-chars:]
            for p in pods
            if component is None or p.component == component
        )

    def crash(self, pod_name: str) -> LocalPod:
        """SIGKILL a pod's process (a crash or a dead node): no SIGTERM, no restart."""
        with self._lock:
            local = next(p for p in self.running.values() if p.name == pod_name)
            local.crashed = True
        local.proc.kill_group(signal.SIGKILL)
        local.proc.wait(10)
        self._event("crash", local, "SIGKILL")
        return local

    # ------------------------------------------------------------ the loop
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # keep running: the API may be briefly unavailable
                self.errors.append(repr(exc))
                log.warning("pod runner tick failed: %r", exc)
            self._stop.wait(self.poll_interval_s)

    def _watch_loop(self) -> None:
        """Deletions as they happen: a pod deleted with grace period 0 is never seen
        terminating by a poll, only its DELETED event carries the grace period."""
        version: str | None = None
        while not self._stop.is_set():
            stream = k8s_watch.Watch()
            try:
                for event in stream.stream(
                    self.api.list_namespaced_pod,
                    self.namespace,
                    label_selector=self.label_selector,
                    resource_version=version,
                    timeout_seconds=WATCH_TIMEOUT_S,
                ):
                    pod = event["object"]
                    version = pod.metadata.resource_version
                    self._note_deletion(pod)
                    if self._stop.is_set():
                        break
            except ApiException as exc:
                if exc.status == 410:  # too old: start again from now
                    version = None
                else:
                    self.errors.append(repr(exc))
                    self._stop.wait(1)
            except Exception as exc:  # the API may be briefly unavailable
                self.errors.append(repr(exc))
                self._stop.wait(1)
            finally:
                stream.stop()

    def _note_deletion(self, pod: Any) -> None:
        meta = pod.metadata
        if meta.deletion_timestamp is None:
            return
        grace = meta.deletion_grace_period_seconds
        with self._lock:
            self._deletion_grace_s.setdefault(meta.uid, float(grace or 0))
            local = self.running.get(meta.uid)
        if local is not None:
            self._terminate(local, time.monotonic())

    def _tick(self) -> None:
        pods = self.api.list_namespaced_pod(
            self.namespace, label_selector=self.label_selector
        ).items
        now = time.monotonic()
        seen: set[str] = set()
        for pod in pods:
            seen.add(pod.metadata.uid)
            self._sync(pod, now)
        if now - self._last_refresh >= self.volume_refresh_s:
            self._last_refresh = now
            for local in list(self.running.values()):
                if local.kill_at is None and local.pod is not None:
                    self._materialize_volumes(
                        local.pod, local.pod.spec.containers[0], self.workdir / local.name
                    )
        for uid, local in list(self.running.items()):
            if uid not in seen and local.kill_at is None:
                missing = self._missing_since.setdefault(uid, now)
                if now - missing >= VANISHED_GRACE_S:
                    self._terminate(local, now)
            if local.kill_at is not None:
                self._reap(uid, local, now)

    def _sync(self, pod: Any, now: float) -> None:
        local = self.running.get(pod.metadata.uid)
        terminating = pod.metadata.deletion_timestamp is not None
        if local is None:
            if not terminating and pod.status.phase == "Running":
                self._launch(pod)
        elif terminating:
            self._note_deletion(pod)
        elif local.crashed or local.kill_at is not None or local.proc.alive():
            return
        elif now - local.started_at > 2.0:
            self._restart(local, pod)

    def _terminate(self, local: LocalPod, now: float) -> None:
        """SIGTERM now and SIGKILL after the deletion's grace period; at once for grace 0. A
        shorter grace period seen later brings the SIGKILL forward, as the kubelet does."""
        with self._lock:
            grace_s = self._deletion_grace_s.get(local.uid, local.grace_s)
        with self._term_lock:
            kill_at = now + grace_s
            if local.kill_at is not None and kill_at >= local.kill_at:
                return
            first = local.kill_at is None
            local.kill_at = kill_at
        if grace_s <= 0:
            local.proc.kill_group(signal.SIGKILL)
            local.proc.wait(5)  # reaped before the loop's own deadline check could kill again
            self._event("kill", local, "grace period 0")
        elif first:
            local.proc.signal(signal.SIGTERM)
            self._event("term", local, f"grace {grace_s:.0f}s")
        else:
            self._event("term", local, f"grace shortened to {grace_s:.0f}s")

    def _reap(self, uid: str, local: LocalPod, now: float) -> None:
        if local.proc.alive() and local.kill_at is not None and now >= local.kill_at:
            local.proc.kill_group(signal.SIGKILL)
            self._event("kill", local, "grace period over")
        if not local.proc.alive():
            local.proc.kill_group(signal.SIGKILL)  # stray children of a prefork pool
            local.proc.wait(5)
            self._event("exit", local, f"rc={local.proc.popen.returncode}")
            with self._lock:
                self.running.pop(uid, None)
                self.finished.append(local)

    def _restart(self, local: LocalPod, pod: Any) -> None:
        self._event("restart", local, f"rc={local.proc.popen.returncode}")
        local.restarts += 1
        local.started_at = time.monotonic()
        log_path = self.workdir / local.name / f"restart-{local.restarts}.log"
        local.proc = Proc(local.argv, env=local.env, log=log_path, name=local.name)

    def _event(self, kind: str, local: LocalPod, detail: str = "") -> None:
        with self._lock:
            self.events.append(Event(time.monotonic(), kind, local.name, local.component, detail))
        log.info("%s %s %s %s", kind, local.component, local.name, detail)

    # ------------------------------------------------------------ launching
    def _launch(self, pod: Any) -> None:
        name = pod.metadata.name
        component = (pod.metadata.labels or {}).get(COMPONENT_LABEL, "")
        pod_dir = self.workdir / name
        pod_dir.mkdir(parents=True, exist_ok=True)
        container = pod.spec.containers[0]
        mounts = self._materialize_volumes(pod, container, pod_dir)
        env = dict(self.base_env)
        env.update(self._container_env(pod, container))
        env["HOSTNAME"] = name
        argv = [*(container.command or ["shoal"]), *(container.args or [])]
        argv = [_rewrite_path(a, mounts) for a in argv]
        env = {k: _rewrite_path(v, mounts) for k, v in env.items()}
        if not argv[0].endswith("shoal"):
            raise RuntimeError(
                f"pod {name}: cannot run command {argv!r} locally (expected the shoal entrypoint)"
            )
        argv = [sys.executable, "-m", "shoal", *argv[1:]]
        hook = self.hooks.get(component)
        if hook is not None:
            argv, env = hook(pod, argv, env, pod_dir)
        grace = pod.spec.termination_grace_period_seconds
        local = LocalPod(
            name=name,
            uid=pod.metadata.uid,
            component=component,
            proc=Proc(argv, env=env, log=pod_dir / "container.log", name=name),
            grace_s=float(30 if grace is None else grace),
            started_at=time.monotonic(),
            argv=argv,
            env=env,
            pod=pod,
        )
        with self._lock:
            self.running[pod.metadata.uid] = local
        self._event("start", local, " ".join(argv[3:]))

    def _materialize_volumes(self, pod: Any, container: Any, pod_dir: Path) -> dict[str, Path]:
        """Write ConfigMap/Secret volumes to files (like the kubelet, again when they change);
        returns mountPath -> local folder or file."""
        component = (pod.metadata.labels or {}).get(COMPONENT_LABEL, "")
        flt = self.file_filters.get(component)

        def _write_items(folder: Path, data: dict[str, str], items: Any) -> None:
            _write_files(
                folder, data, items, lambda f, t: flt(pod.metadata.name, f, t) if flt else t
            )

        sources: dict[str, Path] = {}
        for volume in pod.spec.volumes or []:
            folder = pod_dir / "volumes" / volume.name
            folder.mkdir(parents=True, exist_ok=True)
            if volume.config_map is not None:
                data = self._config_map(
                    volume.config_map.name, optional=bool(volume.config_map.optional)
                )
                _write_items(folder, data, volume.config_map.items)
            elif volume.secret is not None:
                data = self._secret(
                    volume.secret.secret_name, optional=bool(volume.secret.optional)
                )
                _write_items(folder, data, volume.secret.items)
            elif volume.projected is not None:
                # e.g. kube-api-access-*: the token is replaced by KUBECONFIG (see the hooks);
                # its CA ConfigMap may not exist yet in a fresh namespace, hence optional.
                for source in volume.projected.sources or []:
                    if source.config_map is not None:
                        data = self._config_map(source.config_map.name, optional=True)
                        _write_items(folder, data, source.config_map.items)
                    if source.secret is not None:
                        data = self._secret(source.secret.name, optional=True)
                        _write_items(folder, data, source.secret.items)
            sources[volume.name] = folder
        mounts: dict[str, Path] = {}
        for mount in container.volume_mounts or []:
            local = sources.get(mount.name)
            if local is None:
                continue
            mounts[mount.mount_path.rstrip("/")] = (
                local / mount.sub_path if mount.sub_path else local
            )
        return mounts

    def _config_map(self, name: str, *, optional: bool) -> dict[str, str]:
        try:
            cm = self.api.read_namespaced_config_map(name, self.namespace)
        except ApiException as exc:
            if optional and exc.status == 404:
                return {}
            raise
        return dict(cm.data or {})

    def _secret(self, name: str, *, optional: bool) -> dict[str, str]:
        import base64

        try:
            secret = self.api.read_namespaced_secret(name, self.namespace)
        except ApiException as exc:
            if optional and exc.status == 404:
                return {}
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def _container_env(self, pod: Any, container: Any) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.env_from or []:
            prefix = source.prefix or ""
            if source.config_map_ref is not None:
                data = self._config_map(
                    source.config_map_ref.name, optional=bool(source.config_map_ref.optional)
                )
            elif source.secret_ref is not None:
                data = self._secret(
                    source.secret_ref.name, optional=bool(source.secret_ref.optional)
                )
            else:
                continue
            env.update({prefix + k: v for k, v in data.items()})
        for var in container.env or []:
            value = self._env_value(pod, var)
            if value is not None:
                env[var.name] = _expand(value, env)
        return env

    def _env_value(self, pod: Any, var: Any) -> str | None:
        if var.value_from is None:
            return str(var.value or "")
        ref = var.value_from
        if ref.field_ref is not None:
            return _field(pod, ref.field_ref.field_path)
        if ref.config_map_key_ref is not None:
            key = ref.config_map_key_ref
            return self._config_map(key.name, optional=bool(key.optional)).get(key.key)
        if ref.secret_key_ref is not None:
            key = ref.secret_key_ref
            return self._secret(key.name, optional=bool(key.optional)).get(key.key)
        if ref.resource_field_ref is not None:
            return "1"
        return None


def _write_files(
    folder: Path, data: dict[str, str], items: Any, flt: Callable[[str, str], str]
) -> None:
    pairs = [(i.path, data[i.key]) for i in items if i.key in data] if items else list(data.items())
    for rel, text in pairs:
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = flt(rel, text)
        if target.exists() and target.read_text() == text:
            continue
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, target)  # atomic, like the kubelet's symlink swap


def _field(pod: Any, path: str) -> str:
    meta = pod.metadata
    values = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name,
        "spec.serviceAccountName": pod.spec.service_account_name,
        "status.podIP": pod.status.pod_ip,
        "status.hostIP": pod.status.host_ip,
    }
    if path in values:
        return str(values[path] or "")
    for prefix, mapping in (
        ("metadata.labels", meta.labels),
        ("metadata.annotations", meta.annotations),
    ):
        if path.startswith(prefix + "['"):
            return str((mapping or {}).get(path[len(prefix) + 2 : -2], ""))
    raise RuntimeError(f"pod {meta.name}: unsupported fieldRef {path}")


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of previously defined variables."""
    for key, val in env.items():
        value = value.replace(f"$({key})", val)
    return value


def _rewrite_path(value: str, mounts: dict[str, Path]) -> str:
    for mount_path in sorted(mounts, key=len, reverse=True):
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(mounts[mount_path]) + value[len(mount_path) :]
        with contextlib.suppress(ValueError):
            # "--flag=/mount/path/file"
            flag, rest = value.split("=", 1)
            if rest == mount_path or rest.startswith(mount_path + "/"):
                return f"{flag}={mounts[mount_path]}{rest[len(mount_path) :]}"
    return value
