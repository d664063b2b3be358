"""`make run`, and the production layout on one machine: one command, one address (HOST:PORT).

Two layouts:

- **single**: daphne serves HTTP and websockets in one ASGI process. Always so in the embedded
  mode (no REDIS_URL): its channel layer is in-process memory, which cannot cross processes, so
  an alert posted to a pool process would never reach a socket held by daphne; HTTP and
  websockets must live in the one process there. Also the fallback when nginx is missing.
- **production** (REDIS_URL set and nginx installed; `--layout production` insists): nginx at
  HOST:PORT (deploy/nginx.conf, rendered into the run directory) sends `/ws/` to daphne, which
  serves websockets only, `/static/` from STATIC_ROOT, and everything else to a worker pool:
  gunicorn with gthread workers (mssp.wsgi), WEB_WORKERS processes of WEB_THREADS threads.
  The portal's processes are told that one proxy stands in front of them
  (TRUSTED_PROXY_COUNT=1, BEHIND_TLS_PROXY=1, unless the environment says otherwise): nginx
  sets X-Forwarded-For and X-Forwarded-Proto itself, and only it can reach them (127.0.0.1).

With a broker both layouts also start a Celery worker and beat; without one, `manage.py
run_periodic` runs beat's schedule in-process. On PostgreSQL with the intake log (INTAKE_MODE
"log", its default there) they also start `manage.py drain_intake`, which runs the pipeline on
accepted alerts (alerts.intake.log); in the embedded mode a thread of daphne does. `--web-only`
leaves the workers and the drain out (they run on other machines, or a test starts what it
needs). `--print-proxy-config` prints the rendered
nginx.conf for a deployment's own nginx (README, Deploying) and exits.

Stops everything when any part exits or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"
# Room for the multipart envelope around a scanner file of FINDINGS_IMPORT_MAX_BYTES.
MULTIPART_SLACK = 1024 * 1024


def _broker() -> str:
    return os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL") or ""


def _address() -> tuple[str, str]:
    return os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")


def nginx_binary() -> str | None:
    """nginx from NGINX, the PATH or /usr/sbin (not on every user's PATH)."""
    named = os.environ.get("NGINX")
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# --- the commands --------------------------------------------------------------------------
def daphne_command(host: str, port: str) -> list[str]:
    return [sys.executable, "-m", "daphne", "-b", host, "-p", port, "mssp.asgi:application"]


def pool_command(address: str) -> list[str]:
    """gunicorn with gthread workers (docs/PERFORMANCE.md, Serving: why this server). It
    believes no forwarding header itself (--forwarded-allow-ips ""): the portal's one rule
    (TRUSTED_PROXY_COUNT, BEHIND_TLS_PROXY) decides, as under daphne. Its keep-alive outlasts
    nginx's upstream keep-alive, so nginx never reuses a connection the pool has just closed."""
    cores = os.cpu_count() or 1
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "mssp.wsgi:application",
        "--worker-class",
        "gthread",
        "--workers",
        os.environ.get("WEB_WORKERS", str(cores)),
        "--threads",
        os.environ.get("WEB_THREADS", "4"),
        "--bind",
        address,
        "--forwarded-allow-ips",
        "",
        "--keep-alive",
        "75",
        "--timeout",
        os.environ.get("WEB_TIMEOUT", "60"),
        "--graceful-timeout",
        "20",
        "--no-control-socket",  # gunicorn's default socket is one per user, in ~/.gunicorn
    ]


def worker_commands() -> list[list[str]]:
    python = sys.executable
    if not _broker():
        return [[python, "manage.py", "run_periodic"]]  # beat's schedule, in-process
    celery = [python, "-m", "celery", "-A", "mssp"]
    # WARNING: at INFO the worker logs every task it runs and beat every one it sends (the
    # SLA sweep runs each second); failures and retries are warnings and errors.
    level = os.environ.get("CELERY_LOG_LEVEL", "WARNING")
    return [
        [
            *celery,
            "worker",
            "--loglevel",
            level,
            "--concurrency",
            os.environ.get("CELERY_CONCURRENCY", "2"),
        ],
        [
            *celery,
            "beat",
            "--loglevel",
            level,
            "--schedule",
            os.path.join("var", "celerybeat-schedule"),
        ],
    ]


def drain_commands() -> list[list[str]]:
    """The intake log's drain, where the portal appends to the log: a server database and
    INTAKE_MODE not "direct" (mssp.settings decides the same way). SQLite has no LISTEN and
    the embedded mode is one process: a thread of daphne drains there (alerts.intake.log)."""
    database = os.environ.get("DATABASE_URL", "")
    if not database or database.startswith("sqlite:"):
        return []
    if os.environ.get("INTAKE_MODE", "log") == "direct":
        return []
    return [[sys.executable, "manage.py", "drain_intake"]]


def commands(web_only: bool = False) -> list[list[str]]:
    """The single layout: daphne for everything, plus the workers."""
    host, port = _address()
    workers = [] if web_only else [*worker_commands(), *drain_commands()]
    return [daphne_command(host, port), *workers]


# --- nginx ---------------------------------------------------------------------------------
def render_nginx(*, listen: str, pool: str, ws: str, prefix: Path, user: str = "") -> str:
    """deploy/nginx.conf with its {{placeholders}} filled from these addresses and the
    portal's settings (the body limits, STATIC_ROOT)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mssp.settings")
    from django.conf import settings

    values = {
        "user": f"user {user};" if user else "",
        "prefix": str(prefix),
        "listen": listen,
        "pool_address": pool,
        "ws_address": ws,
        "static_root": str(Path(settings.STATIC_ROOT).resolve()),
        "max_request_bytes": str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE),
        "findings_import_bytes": str(settings.FINDINGS_IMPORT_MAX_BYTES + MULTIPART_SLACK),
        "evidence_bytes": str(settings.EVIDENCE_MAX_BYTES + MULTIPART_SLACK),
    }
    text = NGINX_TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        raise RuntimeError(f"{NGINX_TEMPLATE}: a placeholder is left: {text[text.index('{{') :]}")
    return text


def _listen(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def nginx_command(binary: str, prefix: Path) -> list[str]:
    # -e stderr: what nginx says before it has read its own error_log line goes to the terminal
    return [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]


def prepare_nginx(binary: str, run_dir: Path, pool: str, ws: str) -> Path:
    """The rendered config in run_dir (nginx's prefix), checked with `nginx -t`; returns the
    prefix."""
    prefix = run_dir.resolve()
    for part in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / part).mkdir(parents=True, exist_ok=True)
    host, port = _address()
    # As root (a container, CI) nginx would hand its workers to `nobody`, who may not read the
    # static files or the run directory: every process of this layout runs as its caller.
    user = "root" if os.geteuid() == 0 else ""
    config = render_nginx(listen=_listen(host, port), pool=pool, ws=ws, prefix=prefix, user=user)
    (prefix / "nginx.conf").write_text(config)
    check = subprocess.run(  # noqa: S603
        [*nginx_command(binary, prefix), "-q", "-t"], capture_output=True, text=True
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx refused {prefix / 'nginx.conf'}:\n{check.stderr}")
    return prefix


def wait_listening(address: str, children: list[subprocess.Popen], timeout: float = 90) -> None:
    """Returns once `address` accepts a connection; raises if a child exits first."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        for child in children:
            if child.poll() is not None:
                raise RuntimeError(f"{child.args[:4]} exited with {child.returncode}")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens at {address} after {timeout}s") from None
            time.sleep(0.2)


# --- running --------------------------------------------------------------------------------
def supervise(children: list[subprocess.Popen]) -> int:
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop_all(children)
    return max((child.returncode or 0) for child in children) if not stopping else 0


def stop_all(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=25)  # gunicorn's graceful timeout is 20 s
        except subprocess.TimeoutExpired:
            child.kill()


def choose_layout(requested: str) -> tuple[str, str]:
    """(layout, why) for the --layout asked for and what this machine has."""
    if requested == "single":
        return "single", ""
    if not _broker():
        if requested == "production":
            raise SystemExit(
                "The production layout needs REDIS_URL: without it the channel layer is "
                "in-process memory, and the pool's processes could not reach daphne's sockets."
            )
        return "single", ""
    if nginx_binary() is None:
        if requested == "production":
            raise SystemExit("The production layout needs nginx: apt-get install nginx")
        return "single", (
            "nginx is not installed, so daphne serves HTTP and websockets alone. For the "
            "production layout (a worker pool for HTTP, daphne for /ws/, nginx in front): "
            "apt-get install nginx"
        )
    return "production", ""


def run_production(args: argparse.Namespace, env: dict[str, str], binary: str) -> int:
    run_dir = Path(args.run_dir)
    pool, ws = args.pool_address or free_address(), args.ws_address or free_address()
    prefix = prepare_nginx(binary, run_dir, pool, ws)
    # One proxy in front of the portal's processes, which sets both headers itself.
    env.setdefault("TRUSTED_PROXY_COUNT", "1")
    env.setdefault("BEHIND_TLS_PROXY", "1")
    ws_host, _, ws_port = ws.rpartition(":")
    web = [
        subprocess.Popen(pool_command(pool), env=env),  # noqa: S603
        subprocess.Popen(daphne_command(ws_host, ws_port), env=env),  # noqa: S603
    ]
    children = list(web)
    try:
        for address in (pool, ws):
            wait_listening(address, web)
        children.append(subprocess.Popen(nginx_command(binary, prefix) + ["-g", "daemon off;"]))  # noqa: S603
        host, port = _address()
        wait_listening(f"{host}:{port}", children, timeout=15)
        if not args.web_only:
            workers = [*worker_commands(), *drain_commands()]
            children += [subprocess.Popen(cmd, env=env) for cmd in workers]  # noqa: S603
    except BaseException:
        stop_all(children)
        raise
    workers = pool_command(pool)
    print(
        f"Serving the portal at http://{host}:{port}/  [production layout: nginx "
        f"({prefix / 'nginx.conf'}); pool gunicorn gthread "
        f"{workers[workers.index('--workers') + 1]}x{workers[workers.index('--threads') + 1]} "
        f"at {pool}; websockets daphne at {ws}"
        f"{'' if args.web_only else '; Celery worker and beat'}"
        f"{'' if args.web_only or not drain_commands() else '; intake drain'}]",
        flush=True,
    )
    return supervise(children)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the portal at HOST:PORT.")
    parser.add_argument(
        "--layout",
        choices=("auto", "single", "production"),
        default="auto",
        help="auto (default): production with REDIS_URL and nginx, else single",
    )
    parser.add_argument("--web-only", action="store_true", help="no Celery worker, beat or loop")
    parser.add_argument("--run-dir", default=os.path.join("var", "serve"), help="nginx's prefix")
    parser.add_argument("--pool-address", default="", help="the pool's 127.0.0.1:port")
    parser.add_argument("--ws-address", default="", help="daphne's 127.0.0.1:port")
    parser.add_argument("--nginx-user", default="", help="--print-proxy-config: nginx's workers")
    parser.add_argument(
        "--print-proxy-config",
        action="store_true",
        help="print deploy/nginx.conf rendered for HOST:PORT and these addresses, and exit",
    )
    args = parser.parse_args(argv)
    if args.print_proxy_config:
        host, port = _address()
        print(
            render_nginx(
                listen=_listen(host, port),
                pool=args.pool_address or "127.0.0.1:8001",
                ws=args.ws_address or "127.0.0.1:8002",
                prefix=Path(args.run_dir).resolve(),
                user=args.nginx_user,
            ),
            end="",
        )
        return 0

    os.makedirs("var", exist_ok=True)
    layout, why = choose_layout(args.layout)
    env = dict(os.environ)
    if not _broker():  # no worker: requested reports are generated in a thread of daphne's
        env.setdefault("REPORTS_BACKGROUND_THREAD", "1")
    binary = nginx_binary()
    if layout == "production" and binary:
        return run_production(args, env, binary)
    host, port = _address()
    if why:
        print(why, flush=True)
    mode = (
        ("PostgreSQL/Redis" + ("" if args.web_only else " with Celery worker and beat"))
        if _broker()
        else "embedded: in-process channel layer, tasks"
        + ("" if args.web_only else " and schedule")
    ) + ("" if args.web_only or not drain_commands() else "; intake drain")
    print(f"Serving the portal at http://{host}:{port}/  [daphne alone; {mode}]", flush=True)
    children = [subprocess.Popen(cmd, env=env) for cmd in commands(args.web_only)]  # noqa: S603
    return supervise(children)


if __name__ == "__main__":
    sys.exit(main())
