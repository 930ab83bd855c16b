"""The routes the sandbox adds to minilake, one module per Databricks API family.

Each module exposes a thread-safe in-memory store and a ``router(...)`` factory returning a FastAPI
``APIRouter``; ``sandbox.databricks.server`` puts them in front of minilake's catch-all route.
"""
