"""Test support: real services on free ports, processes stopped by their own ids."""
