"""Schedule maths: pure functions of (schedule, previous fire time, now)."""
