"""A plain Celery app (no Django) as a team writes it: its own task base class, its own default
queue, its own time limit. It imports nothing from shoal."""
