"""Load and fault-injection runs against real PostgreSQL, Redis, gunicorn and Celery.

Each module is a script (``python -m loadtests.votes --respondents 100``) whose figures go
into docs/reliability.md; tests/load/ runs the same code at a smaller size under
``pytest -m services``. Everything binds to loopback, and every loop is bounded.
"""
