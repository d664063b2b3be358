"""Batch intake benchmark (not a test): how many alerts a second the portal stores when SIEMs
post 500-alert batches, next to a BASELINE and a CEILING measured in the same run.

    .venv/bin/python bench/ingest_batch.py            # full run, about 2.5 minutes
    .venv/bin/python bench/ingest_batch.py --quick    # smoke run, about 40 seconds

Workload: 500 tenants, one generic intake source each; batches of 500 generic alerts (title,
severity, description, category, observed_at, source_ref, rule, 2-4 observables, MITRE ids,
tags, a vendor payload), 20 % of each batch redeliveries of alerts the tenant already sent
(mixed in at random positions). Batches go round-robin over the tenants. Each phase starts
from the same database state (alerts emptied, the already-sent history reloaded).

Phases, all against PostgreSQL (database mssp_bench, the app role, row-level security on):
  CEILING   psycopg COPY of the same rows into alerts_alert (schema owner, one transaction)
  baseline  a plain DRF endpoint (bench/baseline.py): serializer + one ORM create() per alert
  ours      POST /api/v1/intake/generic/ with each tenant's intake key
each in-process (Django's handler called directly, no HTTP server) and over HTTP through
daphne processes on 127.0.0.1, driven by a keep-alive HTTP/1.1 client with several
connections per process. A "parse + ingest only" phase shows what the pipeline costs without
Django's request handling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common  # noqa: E402
from bench import _intel as intel  # noqa: E402

INTAKE_PATH = "/api/v1/intake/generic/"
BASELINE_PATH = "/bench/baseline/intake/"


class Batches:
    """The phase's sequence of batches, the same in every phase: batch i belongs to tenant
    i mod T. Fresh alerts are stamped from per-tenant templates with never-sent source_refs
    (cheap enough to build on the fly, ~2 ms a batch); redeliveries are the exact bytes of
    alerts in the tenant's history."""

    TEMPLATES = 48

    def __init__(self, workload: common.Workload, size: int, redelivered: float, seed: int = 7):
        self.workload, self.size, self.redelivered = workload, size, redelivered
        self.seed = seed
        self.templates = []
        rng = random.Random(seed)
        for n, world in enumerate(workload.worlds):
            parts = []
            for seq in range(self.TEMPLATES):
                alert = common.make_alert(world, seq, rng, workload.at)
                alert["source_ref"] = "@@REF@@"
                prefix, suffix = common.dumps(alert).split(b"@@REF@@")
                parts.append((prefix, suffix))
            self.templates.append((f"{n:04d}-".encode(), parts))
        self.history = [[common.dumps(a) for a in alerts] for alerts in workload.history]
        self.first_seq = len(workload.history[0]) if workload.history else 0
        self.reset()

    def reset(self) -> None:
        self.index = 0
        self.rng = random.Random(self.seed)
        self.next_seq = [self.first_seq] * len(self.templates)

    def next(self) -> tuple[int, bytes, int]:
        """(tenant index, JSON body, redelivered alerts in it)."""
        tenant = self.index % len(self.templates)
        self.index += 1
        old = round(self.size * self.redelivered)
        prefix, parts = self.templates[tenant]
        seq = self.next_seq[tenant]
        self.next_seq[tenant] = seq + self.size - old
        choice, rng = self.rng.choice, self.rng
        items = [
            b"%s%s%010d%s" % (t[0], prefix, s, t[1])
            for s, t in ((s, choice(parts)) for s in range(seq, seq + self.size - old))
        ]
        items += rng.sample(self.history[tenant], old)
        rng.shuffle(items)
        return tenant, b"[" + b",".join(items) + b"]", old

    def fresh_records(self, count: int) -> list[tuple[int, list[dict]]]:
        """The fresh alerts of the first batches, as records (for the COPY ceiling)."""
        self.reset()
        out, total = [], 0
        while total < count:
            tenant, body, old = self.next()
            records = [r for r in json.loads(body) if int(r["source_ref"][5:]) >= self.first_seq]
            out.append((tenant, records))
            total += len(records)
        self.reset()
        return out


def check_response(status: int, body: bytes, size: int, old: int, errors: Counter) -> bool:
    if status != 202:
        errors[f"HTTP {status}: {body[:160]!r}"] += 1
        return False
    document = json.loads(body)
    if document["accepted"] != size or document["duplicates"] != old:
        errors[f"accepted {document['accepted']}, duplicates {document['duplicates']}"] += 1
        return False
    return True


# --- in-process --------------------------------------------------------------------------------
def run_in_process(batches: Batches, sources, path: str, duration: float, warmup: float):
    """Django's request handler (all middleware, ATOMIC_REQUESTS, the view) called directly,
    one request after another, in a thread under an event loop as daphne runs it."""
    from django.core.handlers.base import BaseHandler
    from django.db import close_old_connections
    from django.test import RequestFactory

    handler = BaseHandler()
    handler.load_middleware()
    factory = RequestFactory(HTTP_HOST=common.HOST)
    errors: Counter = Counter()
    done: list[tuple[float, int]] = []
    started = time.monotonic()
    measure_from, end = started + warmup, started + warmup + duration
    while time.monotonic() < end:
        tenant, body, old = batches.next()
        request = factory.generic(
            "POST",
            path,
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {sources[tenant].key}",
        )
        response = handler.get_response(request)
        close_old_connections()  # as request_finished does: the connection goes back to the pool
        if check_response(response.status_code, response.content, batches.size, old, errors):
            done.append((time.monotonic(), batches.size))
    return done, measure_from, end, errors


def run_ingest_only(batches: Batches, sources, duration: float, warmup: float):
    """The pipeline without Django's request handling: key lookup, parse, ingest, commit."""
    from django.db import close_old_connections, transaction

    from alerts import ingest
    from alerts.intake import generic
    from alerts.intake.guard import source_for_key
    from tenants import rls
    from tenants.access import Access

    errors: Counter = Counter()
    done: list[tuple[float, int]] = []
    started = time.monotonic()
    measure_from, end = started + warmup, started + warmup + duration
    while time.monotonic() < end:
        tenant, body, old = batches.next()
        with transaction.atomic():
            source = source_for_key(sources[tenant].key)
            rls.activate(Access(user_id=None, tenant_ids=frozenset({source.tenant_id})))
            records = generic.records(body, "application/json")
            result = ingest.ingest(source, [generic.parse(r) for r in records])
            rls.deactivate()
        close_old_connections()
        if result.duplicates == old and len(result.alert_ids) == batches.size:
            done.append((time.monotonic(), batches.size))
        else:
            errors[f"duplicates {result.duplicates}"] += 1
    return done, measure_from, end, errors


# --- over HTTP ---------------------------------------------------------------------------------
async def drive_http(
    batches: Batches, sources, ports, path: str, per_port: int, duration: float, warmup: float
):
    """Closed loop: `per_port` keep-alive connections to every daphne, each posting the next
    batch as soon as its previous one was answered."""
    loop = asyncio.get_running_loop()
    conns = [await common.Connection.open(p) for p in ports for _ in range(per_port)]
    errors: Counter = Counter()
    done: list[tuple[float, int]] = []
    started = loop.time()
    measure_from, end = started + warmup, started + warmup + duration

    async def worker(conn: common.Connection) -> None:
        while loop.time() < end:
            tenant, body, old = batches.next()
            raw = common.post_request(conn.port, path, sources[tenant].key, body)
            status, reply = await conn.request(raw)
            if check_response(status, reply, batches.size, old, errors):
                done.append((loop.time(), batches.size))

    await asyncio.gather(*(worker(c) for c in conns))
    for conn in conns:
        conn.close()
    offset = time.monotonic() - loop.time()
    return [(t + offset, n) for t, n in done], measure_from + offset, end + offset, errors


def report(label: str, done, measure_from, end, errors, cpu=None, expect_rows=None) -> float:
    measured = sum(n for t, n in done if measure_from <= t < end)
    rate = measured / (end - measure_from)
    slices = common.windows(done, measure_from, end, max(1.0, (end - measure_from) / 5))
    spread = f"min {min(slices):,.0f} / max {max(slices):,.0f}" if slices else ""
    print(f"   {label}: {rate:,.0f} alerts/s over {end - measure_from:.0f} s ({spread} per window)")
    if errors:
        print(f"   !! {sum(errors.values())} failed requests: {dict(errors.most_common(3))}")
    if cpu:
        print(f"   {common.format_cpu(cpu)}")
    if expect_rows is not None:
        rows = common.count_rows()
        flag = "ok" if rows["alerts_alert"] == expect_rows else f"EXPECTED {expect_rows:,}"
        print(
            f"   rows: {rows['alerts_alert']:,} alerts ({flag}), {rows['alerts_incident']:,} "
            f"incidents, {rows['alerts_incidentevent']:,} incident events"
        )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds each")
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--redelivered", type=float, default=0.2)
    parser.add_argument("--history", type=int, default=100, help="already-sent alerts a tenant")
    parser.add_argument("--workers", default="1,2", help="daphne process counts to try")
    parser.add_argument("--conns", type=int, default=3, help="connections per daphne")
    parser.add_argument("--duration", type=float, default=15, help="seconds per HTTP phase")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--baseline-duration", type=float, default=8)
    parser.add_argument("--inproc-duration", type=float, default=8)
    parser.add_argument("--copy-rows", type=int, default=100_000)
    parser.add_argument(
        "--only", default="", help="comma-separated phases: copy,baseline,inproc,ingest,http"
    )
    parser.add_argument(
        "--indicators",
        type=int,
        default=None,
        help="load this many active global indicators first (COPY; kept between runs)",
    )
    parser.add_argument(
        "--intel",
        choices=("on", "off", "both"),
        default="on",
        help="threat-intelligence matching at intake: on (as shipped), off (receiver "
        "disconnected), or both (each 'ours' phase run off, then on)",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.baseline_duration, args.inproc_duration = 4, 1, 3, 3
        args.copy_rows = 10_000
    phases = (
        set(args.only.split(",")) if args.only else {"copy", "baseline", "inproc", "ingest", "http"}
    )
    workers = [int(w) for w in args.workers.split(",") if w]

    common.configure_environment()
    print("Batch intake benchmark: " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"machine: {common.machine()}")
    print(f"load before: {common.uptime()}")
    run_started = time.monotonic()
    results: dict[str, float] = {}

    with common.section("setup: database, tenants, workload"):
        common.ensure_database()
        common.setup_django()
        sources = common.ensure_tenants(args.tenants)
        workload = common.Workload(sources, args.history)
        history = workload.history_payloads()
        batches = Batches(workload, args.batch, args.redelivered)
        history_rows = args.tenants * args.history
        old = round(args.batch * args.redelivered)
        print(
            f"   {len(sources)} tenants, batches of {args.batch} ({old} redelivered), "
            f"{history_rows:,} already-sent alerts loaded before each phase"
        )
        sample = json.loads(batches.next()[1])[0]
        batches.reset()
        print(f"   one alert: {len(common.dumps(sample))} bytes of JSON, e.g. {sample['title']!r}")
        if args.indicators is not None:
            print(f"   {intel.ensure_indicators(args.indicators)}")
        print(f"   threat intelligence: {intel.loaded():,} bench indicators, matching {args.intel}")
    modes = {"on": [True], "off": [False], "both": [False, True]}[args.intel]

    def tag(enabled: bool) -> str:
        return "" if args.intel != "both" else (" [intel on]" if enabled else " [intel off]")

    def matches_note() -> None:
        print(f"   intel matches stored: {intel.count_matches():,}")

    def fresh_sent(done_count: int) -> int:
        return history_rows + done_count * (args.batch - old)

    if "copy" in phases:
        with common.section(f"CEILING: psycopg COPY of {args.copy_rows:,} rows into alerts_alert"):
            records = batches.fresh_records(args.copy_rows)
            payloads = [common.copy_payload(sources[t], r, workload.at) for t, r in records]
            rows = sum(len(r) for _, r in records)
            common.reset_alerts(history)
            seconds = common.copy_rows(payloads)
            results["copy"] = rows / seconds
            print(f"   COPY: {rows / seconds:,.0f} rows/s ({rows:,} rows in {seconds:.2f} s)")
            print(
                "   (one PostgreSQL backend, i.e. one core; as the schema owner, so no RLS check)"
            )

    if "baseline" in phases:
        with common.section("BASELINE in-process: DRF serializer + ORM create() per alert"):
            common.reset_alerts(history)
            intel.reset_sightings()
            batches.reset()
            meter = common.CpuMeter().start()
            out = common.run_in_loop_thread(
                run_in_process, batches, sources, BASELINE_PATH, args.baseline_duration, 1
            )
            results["baseline_inproc"] = report(
                "baseline", *out, cpu=meter.stop(), expect_rows=fresh_sent(batches.index)
            )

    for enabled in modes if "inproc" in phases else []:
        intel.set_matching(enabled)
        with common.section(
            "OURS in-process: Django handler -> IntakeView, no HTTP server" + tag(enabled)
        ):
            common.reset_alerts(history)
            intel.reset_sightings()
            batches.reset()
            meter = common.CpuMeter().start()
            out = common.run_in_loop_thread(
                run_in_process, batches, sources, INTAKE_PATH, args.inproc_duration, 1
            )
            results["ours_inproc" + tag(enabled)] = report(
                "ours", *out, cpu=meter.stop(), expect_rows=fresh_sent(batches.index)
            )
            matches_note()

    for enabled in modes if "ingest" in phases else []:
        intel.set_matching(enabled)
        with common.section("OURS parse + ingest only (no Django request handling)" + tag(enabled)):
            common.reset_alerts(history)
            intel.reset_sightings()
            batches.reset()
            meter = common.CpuMeter().start()
            out = common.run_in_loop_thread(
                run_ingest_only, batches, sources, args.inproc_duration, 1
            )
            results["ours_ingest_only" + tag(enabled)] = report(
                "ours", *out, cpu=meter.stop(), expect_rows=fresh_sent(batches.index)
            )
            matches_note()
    intel.set_matching(True)

    if "http" in phases:
        with common.section(
            f"BASELINE over HTTP: daphne x{max(workers)}, {args.conns} connections each"
        ):
            common.reset_alerts(history)
            batches.reset()
            with common.Daphnes(max(workers), "bench.settings", "baseline") as daphnes:
                load = drive_http(
                    batches,
                    sources,
                    daphnes.ports,
                    BASELINE_PATH,
                    args.conns,
                    args.baseline_duration,
                    args.warmup,
                )
                out, cpu = common.measured(daphnes.pids, load)
            results["baseline_http"] = report(
                "baseline", *out, cpu=cpu, expect_rows=fresh_sent(batches.index)
            )
        for count, enabled in [(c, e) for c in workers for e in modes]:
            with common.section(
                f"OURS over HTTP: daphne x{count}, {args.conns} connections each" + tag(enabled)
            ):
                common.reset_alerts(history)
                intel.reset_sightings()
                batches.reset()
                settings_module = "mssp.settings" if enabled else "bench.settings_nointel"
                with common.Daphnes(count, settings_module, f"ours-x{count}") as daphnes:
                    load = drive_http(
                        batches,
                        sources,
                        daphnes.ports,
                        INTAKE_PATH,
                        args.conns,
                        args.duration,
                        args.warmup,
                    )
                    out, cpu = common.measured(daphnes.pids, load)
                results[f"ours_http_x{count}" + tag(enabled)] = report(
                    f"ours x{count}", *out, cpu=cpu, expect_rows=fresh_sent(batches.index)
                )
                matches_note()

    print(
        "\n== SUMMARY (alerts/s; PostgreSQL; batches of "
        f"{args.batch}, {args.redelivered:.0%} redelivered, {args.tenants} tenants)"
    )
    best_http = max((v for k, v in results.items() if k.startswith("ours_http")), default=None)
    rows = [
        ("CEILING  COPY into alerts_alert", results.get("copy")),
        ("baseline in-process (DRF + create())", results.get("baseline_inproc")),
        ("baseline over HTTP", results.get("baseline_http")),
        *[
            (f"ours parse + ingest only{tag(e)}", results.get("ours_ingest_only" + tag(e)))
            for e in modes
        ],
        *[
            (f"ours in-process (Django handler){tag(e)}", results.get("ours_inproc" + tag(e)))
            for e in modes
        ],
        *[
            (f"ours over HTTP, daphne x{w}{tag(e)}", results.get(f"ours_http_x{w}" + tag(e)))
            for w in workers
            for e in modes
        ],
    ]
    for label, value in rows:
        if value is not None:
            print(f"   {label:<52} {value:>10,.0f}")
    if best_http and results.get("baseline_http"):
        speedup = best_http / results["baseline_http"]
        verdict = "MET" if speedup >= 5 else "NOT MET"
        print(f"   ours / baseline over HTTP: {speedup:.1f}x (target >= 5x: {verdict})")
    ours_inproc = results.get("ours_inproc" + tag(modes[-1]))
    if ours_inproc and results.get("baseline_inproc"):
        print(f"   ours / baseline in-process: {ours_inproc / results['baseline_inproc']:.1f}x")
    if args.intel == "both":
        for key in ("ours_ingest_only", "ours_inproc", *(f"ours_http_x{w}" for w in workers)):
            off, on = results.get(key + tag(False)), results.get(key + tag(True))
            if off and on:
                print(f"   {key}: intel on / off = {on / off:.0%}")
    if best_http:
        verdict = "MET" if best_http >= 10_000 else "NOT MET"
        print(f"   best over HTTP: {best_http:,.0f} alerts/s (target >= 10,000: {verdict})")
        if results.get("copy"):
            print(f"   best over HTTP / COPY ceiling: {best_http / results['copy']:.0%}")
    print(f"\nload after: {common.uptime()}")
    print(f"total {time.monotonic() - run_started:.0f} s")
    return 0


if __name__ == "__main__":
    os.chdir(common.ROOT)
    sys.exit(main())
