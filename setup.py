"""Packaging beyond pyproject.toml: the repository keeps the Alembic migrations in the
top-level ``migrations/`` folder and the wheel ships them inside the package as
``rlexec.migrations`` (``rlexec.store.migrate`` finds them there), so an installed rlexec can
create and upgrade its schema from any directory."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["rlexec*"]),
        "rlexec.migrations",
        "rlexec.migrations.versions",
    ],
    package_dir={"rlexec.migrations": "migrations"},
    package_data={"rlexec.migrations": ["script.py.mako"]},
)
