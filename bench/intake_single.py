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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common  # noqa: E402
from bench import _intel as intel  # noqa: E402
from bench.ingest_batch import BASELINE_PATH, INTAKE_PATH, Batches  # noqa: E402

FLOOR_PATH = "/bench/floor/"


class Singles:
    """One fresh alert per request, tenants in turn."""

    def __init__(self, workload: common.Workload):
        self.batches = Batches(workload, 1, 0.0)

    def reset(self) -> None:
        self.batches.reset()

    def next(self) -> tuple[int, bytes]:
        tenant, body, _ = self.batches.next()
        return tenant, body[1:-1]  # the one object, not an array of one


def ok(status: int, body: bytes, errors: Counter) -> bool:
    if status == 202 and json.loads(body).get("accepted") == 1:
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
        "--intel",
        choices=("on", "off"),
        default="on",
        help="threat-intelligence matching at intake: on (as shipped) or off",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.open_duration, args.baseline_duration, args.warmup = 4, 5, 3, 1
    workers = [int(w) for w in args.workers.split(",") if w]

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
        with common.section(f"OURS closed loop: daphne x{count}, {args.conns} connections each"):
            fresh()
            with common.Daphnes(count, ours_settings, f"single-x{count}") as daphnes:
                load = closed_load(daphnes, INTAKE_PATH, args.duration, args.warmup)
                (rate, latencies, errors), cpu = common.measured(daphnes.pids, load)
            closed[count] = rate
            print(f"   ours x{count}: {rate:,.0f} req/s; {latency_line(latencies)}")
            print(f"   {common.format_cpu(cpu)}")
            print_errors(errors)
            if rate > best_rate:
                best_workers, best_rate = count, rate

    offered = args.rate or round(best_rate * args.load)
    with common.section(
        f"BASELINE: daphne x{best_workers}, closed loop then open loop at {offered:,} req/s"
    ):
        fresh()
        with common.Daphnes(best_workers, "bench.settings", "single-baseline") as daphnes:
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

    with common.section(f"OURS open loop: daphne x{best_workers}, {offered:,} req/s offered"):
        fresh()
        with common.Daphnes(best_workers, ours_settings, "single-open") as daphnes:
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
        print(f"   closed loop, daphne x{count}: ours {rate:>7,.0f} req/s")
    print(f"   closed loop, daphne x{best_workers}: baseline {b_rate:>7,.0f} req/s")
    print(f"   closed loop, daphne x{best_workers}: FLOOR (no database) {floor_rate:>7,.0f} req/s")
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
    print(f"\nload after: {common.uptime()}")
    print(f"total {time.monotonic() - run_started:.0f} s")
    return 0


if __name__ == "__main__":
    os.chdir(common.ROOT)
    sys.exit(main())
