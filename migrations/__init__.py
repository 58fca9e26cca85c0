"""rlexec's Alembic migrations, installed as ``rlexec.migrations`` (see setup.py)."""
