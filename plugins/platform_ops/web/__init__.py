"""Pages the Airflow API server serves for the package (mounted by :mod:`platform_ops.plugin`)."""
