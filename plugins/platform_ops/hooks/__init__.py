"""Hooks: build SDK clients and subprocesses from Airflow connections."""
