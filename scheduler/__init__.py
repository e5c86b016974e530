"""shoal's scheduler side: the autoscaling controller and the highly available beat."""
