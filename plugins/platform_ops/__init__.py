"""platform-ops: data-platform runbooks (Databricks, dbt, BigQuery) as Airflow 3 operators.

Layout: ``core`` holds pure logic (no Airflow import); ``hooks`` wrap SDK clients; ``operators``,
``sensors`` and ``triggers`` are the Airflow glue; ``state`` persists run state.
"""

__version__ = "0.1.0"
