"""Triggers: async, serialisable waits run by the triggerer."""
