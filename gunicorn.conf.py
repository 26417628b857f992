"""gunicorn settings for REUCID (read automatically when gunicorn starts in this folder).

    gunicorn reucid_site.wsgi

Every value can be overridden from the environment (GUNICORN_BIND, GUNICORN_BACKLOG,
WEB_CONCURRENCY, GUNICORN_TIMEOUT) or on the command line. Denoising runs in Celery workers, not here, so web
workers stay light; the timeout only has to cover streaming a large upload to disk.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Connections the kernel queues while every worker thread is busy; a burst beyond it is reset.
# (runserver's 10 reset 2-6 of 30 simultaneous uploads; the kernel caps this at somaxconn.)
backlog = int(os.environ.get("GUNICORN_BACKLOG", 2048))
workers = int(os.environ.get("WEB_CONCURRENCY", 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = 30
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 1000))
max_requests_jitter = 100
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
