"""The store's schema version (the tables of sql.py's stores; migrations.py upgrades older ones).
A module of its own so that ``feedsvc --version`` can say it without loading the store's code."""

SCHEMA_VERSION = 5
