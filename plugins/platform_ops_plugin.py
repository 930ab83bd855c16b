"""Entry point for Airflow's plugins folder.

Airflow loads AirflowPlugin subclasses from the top-level modules of plugins/; the package's plugin
lives in platform_ops.plugin.
"""

from platform_ops.plugin import PlatformOpsPlugin

__all__ = ["PlatformOpsPlugin"]
