"""Drop and recreate the public schema of DATABASE_URL, so the run starts from nothing."""

import os
import sys

import psycopg

url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
try:
    with psycopg.connect(url, connect_timeout=5, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")
except psycopg.OperationalError as error:
    print(f"cannot reach PostgreSQL: {error}", file=sys.stderr)
    sys.exit(1)
print("PostgreSQL schema reset")
