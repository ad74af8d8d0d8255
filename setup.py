"""Packaging beyond pyproject.toml: the bundled scenario files live in ``scenarios/`` (where
users read and copy them) and travel in the wheel as the package data ``engine.scenarios``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["engine", "engine.*"]), "engine.scenarios"],
    package_dir={"engine.scenarios": "scenarios"},
    package_data={"engine.tables": ["*.csv"], "engine.scenarios": ["*.toml", "*.csv"]},
    exclude_package_data={"engine.scenarios": ["*.py"]},
)
