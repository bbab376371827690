"""Drop and recreate the public schema of DATABASE_URL, so the run starts from nothing.

The suite's workers under pytest-xdist (`make test` runs two) each use a database of their
own beside it, `<name>_gw0`, `<name>_gw1`, ..., which they create afresh when they start
(tests/conftest.py); any left from an earlier run are dropped here too.
"""

import os
import re
import sys

import psycopg
from psycopg import sql

url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
try:
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")
        name = connection.info.dbname
        workers = connection.execute(
            "SELECT datname FROM pg_database WHERE datname ~ %s",
            ["^" + re.escape(name) + "_gw[0-9]+$"],
        ).fetchall()
        for (database,) in workers:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
except psycopg.OperationalError as error:
    print(f"cannot reach PostgreSQL: {error}", file=sys.stderr)
    sys.exit(1)
print("PostgreSQL schema reset" + "".join(f"; dropped {d}" for (d,) in workers))
