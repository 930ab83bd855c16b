"""Sensors: thin Airflow glue over platform_ops.core, the hooks and the triggers."""
