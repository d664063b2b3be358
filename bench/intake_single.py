"""Single-alert intake benchmark (not a test): requests a second through daphne, and latency
per request at a fixed offered load, next to a BASELINE measured in the same run.

    .venv/bin/python bench/intake_single.py            # full run, about 2.5 minutes
    .venv/bin/python bench/intake_single.py --quick    # smoke run, about 45 seconds

Each request is one generic alert (one JSON object, 2-4 observables, a vendor payload) with a
never-sent source_ref, posted with the intake key of the next of 500 tenants in turn.

1. closed loop: several keep-alive connections per daphne post back to back for a while; the
   completed requests a second is the throughput (tried with 1 and 2 daphne processes);
2. open loop: requests are *scheduled* at a fixed rate (70 % of the best throughput of step 1,
   or --rate) whatever the server does, and each request's latency is measured from its
   scheduled start to its answer, so queueing when the server falls behind is counted
   (no coordinated omission).
The baseline (bench/baseline.py: a plain DRF endpoint, serializer + one ORM create()) goes
through the same two steps, and a FLOOR endpoint (the same stack answering 202 without touching
the database) shows what daphne, the middleware and DRF cost alone. All traffic to 127.0.0.1.

3. the durable intake log (--log, issue 15): the same closed and open loops with INTAKE_MODE
   "log" and one `manage.py drain_intake` beside the servers; the direct mode's figures above
   are its in-run baseline. Reported: requests a second (each durable before its 202), server
   CPU per request, the drain's CPU per alert, and how long after the load the drain has
   processed every accepted alert (0 lost: the alerts stored equal the ids answered).

`--server pool` serves with the production layout's worker pool (gunicorn gthread,
mssp.serve.pool_command; WEB_WORKERS x WEB_THREADS, no nginx) instead of daphne.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common  # noqa: E402
from bench import _intel as intel  # noqa: E402
from bench.ingest_batch import BASELINE_PATH, INTAKE_PATH, Batches  # noqa: E402

FLOOR_PATH = "/bench/floor/"


class Pool:
    """The production layout's worker pool (mssp.serve.pool_command), one gunicorn on one
    port; `pids` are its workers' (the master only forks and watches)."""

    def __init__(self, settings_module: str, label: str):
        self.settings_module, self.label = settings_module, label
        self.ports: list[int] = []
        self.procs: list = []

    def __enter__(self) -> Pool:
        import subprocess

        from mssp.serve import pool_command

        common.LOG_DIR.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **common.BENCH_ENV, "DJANGO_SETTINGS_MODULE": self.settings_module}
        port = common.free_port()
        log = open(common.LOG_DIR / f"{self.label}.log", "wb")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(  # noqa: S603
                pool_command(f"{common.HOST}:{port}"),
                cwd=common.ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.ports.append(port)
        try:
            common.wait_healthy(port, self.procs[0])
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def pids(self) -> list[int]:
        master = self.procs[0].pid
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            children = []
        return [master, *(int(c) for c in children)]

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=30)


class Drain:
    """`manage.py drain_intake` against the bench database (the intake log's drain)."""

    def __init__(self, settings_module: str, label: str = "drain"):
        self.settings_module, self.label = settings_module, label
        self.proc = None

    def __enter__(self) -> Drain:
        import subprocess

        env = {
            **os.environ,
            **common.BENCH_ENV,
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "INTAKE_MODE": "log",
        }
        path = common.LOG_DIR / f"{self.label}.log"
        log = open(path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "drain_intake"],
            cwd=common.ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while b"intake drain ready" not in path.read_bytes():  # started: its CPU from here
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"drain_intake did not start; see {path}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@contextmanager
def servers(kind: str, count: int, settings_module: str, label: str, mode: str = "direct"):
    """daphne x count, or the worker pool (count ignored: WEB_WORKERS), in this INTAKE_MODE."""
    os.environ["INTAKE_MODE"] = mode  # read by the servers as they start
    try:
        server = Pool(settings_module, label) if kind == "pool" else None
        with server or common.Daphnes(count, settings_module, label) as running:
            yield running
    finally:
        os.environ["INTAKE_MODE"] = "direct"


def cpu_seconds(pid: int) -> float:
    return common._proc_cpu(pid)


def backlog_alerts() -> int:
    from alerts.intake import log

    return log.backlog().alerts


def wait_drained(timeout: float = 300) -> float:
    """Seconds until the intake log is empty (or `timeout`)."""
    started = time.monotonic()
    while backlog_alerts() and time.monotonic() - started < timeout:
        time.sleep(0.05)
    return time.monotonic() - started


def stored_alerts() -> int:
    return common.count_rows()["alerts_alert"]


class Singles:
    """One fresh alert per request, tenants in turn."""

    def __init__(self, workload: common.Workload):
        self.batches = Batches(workload, 1, 0.0)

    def reset(self) -> None:
        self.batches.reset()

    def next(self) -> tuple[int, bytes]:
        tenant, body, _ = self.batches.next()
        return tenant, body[1:-1]  # the one object, not an array of one


ACCEPTED: list[str] = []  # every alert id answered (the log mode's 0-lost check)


def ok(status: int, body: bytes, errors: Counter) -> bool:
    if status == 202:
        answer = json.loads(body)
        if answer.get("accepted") == 1:
            ACCEPTED.extend(answer.get("alerts", ()))
            return True
    errors[f"HTTP {status}: {body[:160]!r}"] += 1
    return False


def latency_line(latencies: list[float]) -> str:
    values = sorted(latencies)
    p = common.percentile
    return (
        f"p50 {p(values, 50) * 1000:.1f} ms, p90 {p(values, 90) * 1000:.1f} ms, "
        f"p99 {p(values, 99) * 1000:.1f} ms, p99.9 {p(values, 99.9) * 1000:.1f} ms, "
        f"max {values[-1] * 1000:.1f} ms"
        if values
        else "no answers"
    )


async def closed_loop(singles, sources, ports, path, per_port, duration, warmup):
    loop = asyncio.get_running_loop()
    conns = [await common.Connection.open(p) for p in ports for _ in range(per_port)]
    errors: Counter = Counter()
    latencies: list[float] = []
    done = 0
    started = loop.time()
    measure_from, end = started + warmup, started + warmup + duration

    async def worker(conn: common.Connection) -> None:
        nonlocal done
        while loop.time() < end:
            tenant, body = singles.next()
            raw = common.post_request(conn.port, path, sources[tenant].key, body)
            sent = loop.time()
            status, reply = await conn.request(raw)
            now = loop.time()
            if ok(status, reply, errors) and measure_from <= now < end:
                done += 1
                latencies.append(now - sent)

    await asyncio.gather(*(worker(c) for c in conns))
    for conn in conns:
        conn.close()
    return done / duration, latencies, errors


async def open_loop(singles, sources, ports, path, rate, duration, warmup, pool_size):
    """Requests scheduled every 1/rate s from a pool of keep-alive connections; latency from
    the scheduled start. A request that finds no idle connection waits (and that wait counts).
    """
    loop = asyncio.get_running_loop()
    conns, idle = await common.connection_pool(ports, pool_size)
    errors: Counter = Counter()
    latencies: list[float] = []
    total = int(rate * (warmup + duration))
    start = loop.time() + 0.05
    measure_from = start + warmup

    async def one(scheduled: float, tenant: int, body: bytes) -> None:
        conn = await idle.get()
        try:
            raw = common.post_request(conn.port, path, sources[tenant].key, body)
            status, reply = await conn.request(raw)
        finally:
            idle.put_nowait(conn)
        if ok(status, reply, errors) and scheduled >= measure_from:
            latencies.append(loop.time() - scheduled)

    lateness = await common.offer_at_rate(
        start, rate, total, lambda scheduled: one(scheduled, *singles.next())
    )
    finished = loop.time()
    for conn in conns:
        conn.close()
    achieved = len(latencies) / max(1e-9, finished - measure_from)
    return latencies, errors, achieved, lateness


def run_in_process(singles, sources, path: str, duration: float):
    from django.core.handlers.base import BaseHandler
    from django.db import close_old_connections
    from django.test import RequestFactory

    handler = BaseHandler()
    handler.load_middleware()
    factory = RequestFactory(HTTP_HOST=common.HOST)
    errors: Counter = Counter()
    latencies = []
    end = time.monotonic() + duration
    while time.monotonic() < end:
        tenant, body = singles.next()
        request = factory.generic(
            "POST",
            path,
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {sources[tenant].key}",
        )
        sent = time.monotonic()
        response = handler.get_response(request)
        close_old_connections()
        if ok(response.status_code, response.content, errors):
            latencies.append(time.monotonic() - sent)
    return len(latencies) / duration, latencies, errors


def measure_log(args, server_name, count, offered, settings_module, fresh, singles, sources):
    """The durable intake log: closed loop, then open loop at `offered`, each with one drain;
    returns the summary's lines."""
    lines = []
    for phase in ("closed", "open"):
        title = f"LOG {phase} loop: {server_name} x{count} + one drain_intake" + (
            f", {offered:,} req/s offered" if phase == "open" else ""
        )
        with common.section(title):
            fresh()
            ACCEPTED.clear()
            with (
                servers(args.server, count, settings_module, f"single-log-{phase}", "log") as web,
                Drain(settings_module, f"drain-{phase}") as drain,
            ):
                before = cpu_seconds(drain.proc.pid)
                started = time.monotonic()
                if phase == "closed":
                    load = closed_loop(
                        singles,
                        sources,
                        web.ports,
                        INTAKE_PATH,
                        args.conns,
                        args.duration,
                        args.warmup,
                    )
                    (rate, latencies, errors), cpu = common.measured(web.pids, load)
                else:
                    load = open_loop(
                        singles,
                        sources,
                        web.ports,
                        INTAKE_PATH,
                        offered,
                        args.open_duration,
                        args.warmup,
                        args.pool,
                    )
                    (latencies, errors, rate, _), cpu = common.measured(web.pids, load)
                loaded = time.monotonic() - started
                waiting = backlog_alerts()
                behind = wait_drained()
                drain_cpu = cpu_seconds(drain.proc.pid) - before
            stored = stored_alerts()
            accepted = len(set(ACCEPTED))
            web_ms = cpu["daphne"] * loaded / max(1, len(ACCEPTED)) * 1000
            print(f"   log {phase}: {rate:,.0f} req/s answered; {latency_line(latencies)}")
            print(f"   {common.format_cpu(cpu)}  (server CPU per request {web_ms:.1f} ms)")
            print(
                f"   drain: {waiting:,} alerts waiting when the load stopped, all processed "
                f"{behind:.1f} s later; {drain_cpu / max(1, stored) * 1000:.2f} ms CPU per alert; "
                f"{stored:,} stored of {accepted:,} accepted "
                f"({'0 lost' if stored == accepted else 'MISMATCH'})"
            )
            print_errors(errors)
            values = sorted(latencies)
            lines.append(
                f"   LOG {phase} loop, {server_name} x{count}: {rate:>7,.0f} req/s, p50 "
                f"{common.percentile(values, 50) * 1000:.1f} ms p99 "
                f"{common.percentile(values, 99) * 1000:.1f} ms, {web_ms:.1f} ms server CPU "
                f"per request, drain {drain_cpu / max(1, stored) * 1000:.2f} ms CPU per alert, "
                f"drained {behind:.1f} s after the load, {stored:,}/{accepted:,} stored"
            )
    return lines


def print_errors(errors: Counter) -> None:
    if errors:
        print(f"   !! {sum(errors.values())} failed requests: {dict(errors.most_common(3))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds each")
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--workers", default="1,2", help="daphne process counts to try")
    parser.add_argument("--conns", type=int, default=4, help="closed loop: connections/daphne")
    parser.add_argument("--pool", type=int, default=64, help="open loop: connections in all")
    parser.add_argument("--duration", type=float, default=12, help="seconds per closed loop")
    parser.add_argument("--open-duration", type=float, default=20, help="seconds of open loop")
    parser.add_argument("--baseline-duration", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--load", type=float, default=0.7, help="open loop: share of max")
    parser.add_argument("--rate", type=float, default=0, help="open loop: fixed req/s instead")
    parser.add_argument(
        "--indicators",
        type=int,
        default=None,
        help="load this many active global indicators first (COPY; kept between runs)",
    )
    parser.add_argument(
        "--server",
        choices=("daphne", "pool"),
        default="daphne",
        help="daphne processes (--workers), or the production layout's gunicorn pool",
    )
    parser.add_argument(
        "--log",
        action="store_true",
        help="also measure the durable intake log (INTAKE_MODE=log and a drain_intake)",
    )
    parser.add_argument(
        "--intel",
        choices=("on", "off"),
        default="on",
        help="threat-intelligence matching at intake: on (as shipped) or off",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.open_duration, args.baseline_duration, args.warmup = 4, 5, 3, 1
    workers = [int(w) for w in args.workers.split(",") if w]
    if args.server == "pool":
        workers = [int(os.environ.get("WEB_WORKERS", os.cpu_count() or 1))]
    server_name = "pool" if args.server == "pool" else "daphne"

    common.configure_environment()
    print("Single-alert intake benchmark: " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"machine: {common.machine()}")
    print(f"load before: {common.uptime()}")
    run_started = time.monotonic()

    with common.section("setup: database, tenants, workload"):
        common.ensure_database()
        common.setup_django()
        sources = common.ensure_tenants(args.tenants)
        workload = common.Workload(sources, 0)
        singles = Singles(workload)
        print(f"   {len(sources)} tenants; one alert = {len(singles.next()[1])} bytes of JSON")
        if args.indicators is not None:
            print(f"   {intel.ensure_indicators(args.indicators)}")
        print(f"   threat intelligence: {intel.loaded():,} bench indicators, matching {args.intel}")
        intel.set_matching(args.intel == "on")
    ours_settings = "mssp.settings" if args.intel == "on" else "bench.settings_nointel"

    def fresh() -> None:
        import psycopg

        with psycopg.connect(common.OWNER_URL, autocommit=True) as conn:
            conn.execute("TRUNCATE alerts_intakelogentry")
        common.reset_alerts([])
        intel.reset_sightings()
        singles.reset()

    def closed_load(daphnes, path: str, duration: float, warmup: float):
        """The closed-loop client against these servers, ready to run."""
        return closed_loop(singles, sources, daphnes.ports, path, args.conns, duration, warmup)

    with common.section("in-process (Django handler, no HTTP server), one request at a time"):
        results = {}
        for label, path in (("baseline", BASELINE_PATH), ("ours", INTAKE_PATH)):
            fresh()
            rate, latencies, errors = common.run_in_loop_thread(
                run_in_process, singles, sources, path, args.baseline_duration
            )
            results[label] = rate
            print(f"   {label:<8} {rate:,.0f} req/s, {latency_line(latencies)}")
            print_errors(errors)

    best_workers, best_rate = workers[0], 0.0
    closed = {}
    for count in workers:
        with common.section(
            f"OURS closed loop: {server_name} x{count}, {args.conns} connections each"
        ):
            fresh()
            with servers(args.server, count, ours_settings, f"single-x{count}") as daphnes:
                load = closed_load(daphnes, INTAKE_PATH, args.duration, args.warmup)
                (rate, latencies, errors), cpu = common.measured(daphnes.pids, load)
            closed[count] = rate
            print(f"   ours x{count}: {rate:,.0f} req/s; {latency_line(latencies)}")
            print(
                f"   {common.format_cpu(cpu)}  (server CPU per request "
                f"{cpu['daphne'] / max(rate, 1e-9) * 1000:.1f} ms)"
            )
            print_errors(errors)
            if rate > best_rate:
                best_workers, best_rate = count, rate

    offered = args.rate or round(best_rate * args.load)
    with common.section(
        f"BASELINE: {server_name} x{best_workers}, closed loop then open loop at {offered:,} req/s"
    ):
        fresh()
        with servers(args.server, best_workers, "bench.settings", "single-baseline") as daphnes:
            load = closed_load(daphnes, BASELINE_PATH, args.baseline_duration, args.warmup)
            (b_rate, b_closed_lat, errors), cpu = common.measured(daphnes.pids, load)
            print(f"   baseline closed loop: {b_rate:,.0f} req/s; {latency_line(b_closed_lat)}")
            print(f"   {common.format_cpu(cpu)}")
            print_errors(errors)
            load = closed_load(daphnes, FLOOR_PATH, args.baseline_duration / 2, args.warmup / 2)
            (floor_rate, floor_lat, errors), cpu = common.measured(daphnes.pids, load)
            print(
                f"   FLOOR (daphne + middleware + DRF, no database): {floor_rate:,.0f} req/s; "
                f"{latency_line(floor_lat)}"
            )
            print(f"   {common.format_cpu(cpu)}")
            print_errors(errors)
            b_lat, errors, b_achieved, _ = asyncio.run(
                open_loop(
                    singles,
                    sources,
                    daphnes.ports,
                    BASELINE_PATH,
                    offered,
                    args.baseline_duration,
                    args.warmup,
                    args.pool,
                )
            )
            print(
                f"   baseline open loop at {offered:,} req/s: answered {b_achieved:,.0f} req/s; "
                f"{latency_line(b_lat)}"
            )
            print_errors(errors)

    with common.section(
        f"OURS open loop: {server_name} x{best_workers}, {offered:,} req/s offered"
    ):
        fresh()
        with servers(args.server, best_workers, ours_settings, "single-open") as daphnes:
            load = open_loop(
                singles,
                sources,
                daphnes.ports,
                INTAKE_PATH,
                offered,
                args.open_duration,
                args.warmup,
                args.pool,
            )
            (lat, errors, achieved, lateness), cpu = common.measured(daphnes.pids, load)
        print(f"   ours: answered {achieved:,.0f} req/s; {latency_line(lat)}")
        print(
            f"   client scheduling lag at most {lateness * 1000:.1f} ms; {common.format_cpu(cpu)}"
        )
        print_errors(errors)

    log_lines = (
        measure_log(
            args, server_name, best_workers, offered, ours_settings, fresh, singles, sources
        )
        if args.log
        else []
    )

    values = sorted(lat)
    p99 = common.percentile(values, 99) * 1000 if values else float("inf")
    p50 = common.percentile(values, 50) * 1000 if values else float("inf")
    b_values = sorted(b_lat)
    print("\n== SUMMARY (single-alert requests, PostgreSQL, 500 tenants)")
    print(
        f"   in-process          ours {results['ours']:>7,.0f} req/s   "
        f"baseline {results['baseline']:>7,.0f} req/s"
    )
    for count, rate in closed.items():
        print(f"   closed loop, {server_name} x{count}: ours {rate:>7,.0f} req/s")
    print(f"   closed loop, {server_name} x{best_workers}: baseline {b_rate:>7,.0f} req/s")
    print(
        f"   closed loop, {server_name} x{best_workers}: FLOOR (no database) "
        f"{floor_rate:>7,.0f} req/s"
    )
    print(
        f"   open loop at {offered:,} req/s ({offered / best_rate:.0%} of ours' best): "
        f"ours p50 {p50:.1f} ms p99 {p99:.1f} ms; baseline p50 "
        f"{common.percentile(b_values, 50) * 1000:.1f} ms p99 "
        f"{common.percentile(b_values, 99) * 1000:.1f} ms (answered {b_achieved:,.0f} req/s)"
    )
    verdict = "MET" if best_rate >= 1000 else "NOT MET"
    print(f"   throughput: {best_rate:,.0f} req/s (target >= 1,000: {verdict})")
    verdict = "MET" if p99 < 25 else "NOT MET"
    print(f"   p99 at {offered:,} req/s: {p99:.1f} ms (target < 25 ms: {verdict})")
    if best_rate < 1000 and not args.rate:
        print("   (70 % of the target would be 700 req/s: rerun with --rate 700 to see p99 there)")
    for line in log_lines:
        print(line)
    print(f"\nload after: {common.uptime()}")
    print(f"total {time.monotonic() - run_started:.0f} s")
    return 0


if __name__ == "__main__":
    os.chdir(common.ROOT)
    sys.exit(main())
