"""gunicorn settings for the bare app: the same bind, workers and worker class as gunicorn.conf.py."""

import os

bind = f"0.0.0.0:{os.environ['PORT']}"
worker_class = "gthread"
threads = 8
graceful_timeout = 20
timeout = 30
control_socket_disable = True
