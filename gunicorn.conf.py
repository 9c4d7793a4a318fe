"""gunicorn settings (read automatically from the working directory).

Heroku sets PORT, DYNO and WEB_CONCURRENCY; the Procfile starts gunicorn through guard/web.py, which checks it.
"""

import os
import shutil
import sys
import tempfile

from guard.config import DEFAULT_DATABASE_URL, PUBLIC_BASE_URL_WARNING, ConfigError, Settings
from guard.config.formats import beyond_loopback
from guard.web import check_bind, check_database_file, check_metrics_directory, metric_files, web_concurrency

# Refuse to start, with one line naming the variable, before binding a port or forking workers.
try:
    settings = Settings.from_env()
    workers = web_concurrency(os.environ)  # gunicorn's own reading took 0 (no worker at all)
    if settings.metrics_directory:
        check_metrics_directory(settings.metrics_directory, settings.database_url or DEFAULT_DATABASE_URL)
    check_database_file(settings.database_url or DEFAULT_DATABASE_URL)
    if os.environ.get("GUARD_BIND_CHECKED") != str(os.getpid()):  # not again on a HUP: the master listens there
        check_bind(settings.listen_host, settings.port or 8000, sys.argv[1:], os.environ)
        os.environ["GUARD_BIND_CHECKED"] = str(os.getpid())
except ConfigError as err:
    print(f"guard: configuration error: {err}", file=sys.stderr)
    sys.exit(3)

# Prometheus multiprocess mode: each worker writes its counters here and /metrics adds them up.
# It must be set before the workers import prometheus_client.
OWN_METRICS_DIR = None  # the directory made here, removed when the master exits (one set by you stays)
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="guard-metrics-")
    os.environ["GUARD_OWN_METRICS_DIR"] = OWN_METRICS_DIR
elif os.environ["PROMETHEUS_MULTIPROC_DIR"] == os.environ.get("GUARD_OWN_METRICS_DIR"):
    OWN_METRICS_DIR = os.environ["GUARD_OWN_METRICS_DIR"]  # read again on a HUP: still this start's own

# HOST and PORT apart: `PORT=8001 make run` moves the demo and keeps it on loopback. Only a Heroku dyno
# (DYNO set), whose port only its router reaches, or an explicit HOST listens beyond this machine.
bind = settings.bind
# Threads, not one request per process: a client that trickles its headers holds one thread, not the
# whole worker, and the main loop keeps answering (README "Reliability": sync workers went silent with 2
# such clients; 2 workers of 8 threads keep /healthz at its usual latency with 8, and with 14 when they
# spread evenly). Each thread needs at most one database connection, within the pool (guard.adapters.db).
worker_class = "gthread"
threads = 8
# Heroku sends SIGTERM and SIGKILLs 30 s later: finish in-flight requests well before that.
graceful_timeout = 20
# With threads this is a heartbeat, not a request limit: a worker whose main loop stalls 30 s is replaced.
timeout = 30
# The control socket is a per-user file; two instances on one machine would fight over it.
control_socket_disable = True
# X-Forwarded-* (and a SCRIPT_NAME header) count only with TRUST_PROXY, in the app (ProxyFix). gunicorn's own default
# trusts them from loopback, where a same-host proxy may pass a client's headers on: the client would pick the
# scheme and path prefix of the URL the signature is checked against.
forwarded_allow_ips = ""


def on_starting(server):
    """Start the metrics from zero: files left by a previous run would be added in."""
    for stale in metric_files(os.environ["PROMETHEUS_MULTIPROC_DIR"]):
        stale.unlink()


def when_ready(server):
    """A `--bind` beyond loopback (the command line, GUNICORN_CMD_ARGS) warns as HOST does: the app knows only HOST."""
    hosts = [address[0] for address in server.cfg.address if isinstance(address, tuple)]  # not a socket file or fd
    quiet = not settings.validate_signature or settings.public_base_url or settings.reachable_from_outside
    if not quiet and any(beyond_loopback(host) for host in hosts):
        server.log.warning(PUBLIC_BASE_URL_WARNING)


def post_worker_init(worker):
    """Start the background jobs (delivery, remediation, reminders, pruning) in each process: threads do not fork."""
    services = worker.wsgi.extensions["guard"]
    if services.settings.delivery == "thread":
        services.jobs.start()


def worker_exit(server, worker):
    """On shutdown, let the job in flight finish; undelivered alerts stay queued for the next start."""
    services = getattr(worker, "wsgi", None) and worker.wsgi.extensions.get("guard")
    if services:
        services.writer.stop(timeout=10)  # the requests are answered: nothing waits in its queue any more
        services.jobs.stop(timeout=10)


def child_exit(server, worker):
    """Let Prometheus drop the live-gauge files of a worker that is gone."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this start made: every start makes a fresh one."""
    if OWN_METRICS_DIR:
        shutil.rmtree(OWN_METRICS_DIR, ignore_errors=True)
