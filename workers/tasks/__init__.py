"""Built-in tasks for the demo, the tests and the benchmarks."""

from workers.tasks.builtin import cpu, fail, io_wait, noop, record, slow

__all__ = ["cpu", "fail", "io_wait", "noop", "record", "slow"]
