"""The scaling policy: a pure function of (observation, state, policy, now)."""
