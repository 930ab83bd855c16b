"""A local Databricks workspace API: minilake plus the routes it lacks (see server.py).

``launcher.DatabricksSandbox`` starts it from any environment; ``server`` and ``routes`` run inside
.venv-minilake. Nothing here is imported on package import, so the launcher needs only the standard
library.
"""
