"""Create the PostgreSQL database named in DATABASE_URL if it does not exist yet.

Django connects to that database before it creates the test database ``test_<name>`` next to
it; connecting to the server's ``postgres`` database instead works but warns. Exits 1 with the
reason when the server cannot be reached.
"""
from __future__ import annotations

import os
import sys

import dj_database_url
import psycopg
from psycopg import sql


def main() -> int:
    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    if "postgresql" not in config["ENGINE"]:
        return 0
    connect = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
        "connect_timeout": 10,
    }
    try:
        with psycopg.connect(**{k: v for k, v in connect.items() if v is not None}) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (config["NAME"],)
            ).fetchone()
            if not exists:
                connection.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"]))
                )
                print(f"ensure_database.py: created database {config['NAME']!r}")
    except psycopg.Error as error:
        print(f"ensure_database.py: cannot reach PostgreSQL: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
