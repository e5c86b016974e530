"""The ``shoal`` command line: the top floor, above the worker, the beat, the autoscaler, the
simulator and the demo. Nothing below imports it."""
