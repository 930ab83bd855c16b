"""Operators: thin Airflow glue over platform_ops.core and the hooks."""
