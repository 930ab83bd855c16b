"""Pure logic: validation rules, key layouts, plans, SQL builders and result parsing.

Nothing here imports Airflow or a cloud SDK, or touches the network (enforced by import-linter,
see ``[tool.importlinter]`` in pyproject.toml), so all of it is tested directly.
"""
