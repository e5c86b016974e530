"""The foundation every shoal process stands on: the Redis contract and how settings are read.

Each fact here is written once and imported by the worker, the beat, the autoscaler, the
simulator and the command line alike: key names (:mod:`contract.keys`), the in-flight record
(:mod:`contract.inflight`), kombu's priority lists (:mod:`contract.priority`), the queue-name
rule (:mod:`contract.queues`), the pools (:mod:`contract.pools`), retry backoff
(:mod:`contract.backoff`), the Redis settings and the one ``connect()``
(:mod:`contract.connection`), the field mechanism every setting is declared with
(:mod:`contract.fields`, one parser per kind in :mod:`contract.kinds`), the settings every
process shares (the log level and Sentry: :mod:`contract.reporting`) and the strict YAML loader
(:mod:`contract.yamlfile`).

Nothing here imports Celery, kombu, Kubernetes, gevent or YAML at import time: the publisher kit
that application teams install stands on it too. Nothing here imports a higher floor.
"""
