"""Ingest-to-websocket benchmark (not a test): latency from an alert's intake request to its
alert.created message on every socket entitled to it, with 2,000 sockets open over 500
tenants while 1,000 alerts/s arrive, next to two BASELINES measured in the same run.

    .venv/bin/python bench/ingest_to_websocket.py            # full run, about 2 minutes
    .venv/bin/python bench/ingest_to_websocket.py --quick    # smoke run, about 1 minute

Sockets: 2,000 over two daphne processes (socket i on process i mod 2) sharing one
channels-redis layer: 20 MSSP analysts (analyst_l2) each working 50 tenants (every tenant is
worked by two of them), and 1,980 customer portal users (viewer role, 3-4 per tenant), each
authenticated with its own API token ({"type": "auth", "token": ...}, tokens issued with
tenants.services.token_issue). They live in a separate client process (asyncio + websockets)
that timestamps every message on arrival.

Load: generic alerts POSTed to /api/v1/intake/generic/ (each tenant's intake key, tenants in
turn, small batches: --batch alerts a request, 1 = single-alert requests), scheduled at a fixed
rate (open loop: the schedule does not wait for the server) over a pool of keep-alive
connections to both daphnes. Latency runs from the request's *scheduled* send time to the
arrival of alert.created on a socket, matched by the alert id of the 202 answer. Lost: an
(alert, entitled socket) pair that never arrived; wrong tenant: any message on a socket whose
tenant the socket may not see (checked on the socket, and again against the 202 answers).

Baselines, in the same run and on the same machine:
  raw channel layer  channels-redis group_send -> receive between processes, no daphne, no
                     database: the same groups (2,000 channels, same memberships, split over
                     two receiver processes), the same number of group sends a second carrying
                     the same events; latency from group_send to receive.
  intake alone       the same offered load through the same daphnes with no socket open:
                     request -> 202 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common  # noqa: E402
from bench import _stream as stream  # noqa: E402

INTAKE_PATH = "/api/v1/intake/generic/"
RAW_PREFIX = "mssp-bench-raw"


@dataclass
class SocketSpec:
    token: str
    port_index: int
    allowed: list[str]  # tenant slugs this socket may receive
    kind: str  # "customer" | "analyst"


# --- the socket client (its own process, no Django) ----------------------------------------------
def socket_process(pipe, specs: list[SocketSpec], ports: list[int], concurrency: int) -> None:
    stream.raise_open_files(len(specs) + 1024)
    try:
        asyncio.run(_sockets_main(pipe, specs, ports, concurrency))
    finally:
        pipe.close()


async def _sockets_main(pipe, specs, ports, concurrency) -> None:
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    records: list[tuple[str, int, float]] = []  # (alert id, socket index, arrival)
    wrong: list[tuple[int, str, str]] = []  # (socket index, tenant, event type)
    kinds: Counter = Counter()
    last_arrival = [0.0]
    sockets: list = [None] * len(specs)
    failures: Counter = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def open_one(index: int, spec: SocketSpec) -> None:
        port = ports[spec.port_index]
        async with gate:
            try:
                ws = await connect(
                    f"ws://{common.HOST}:{port}/ws/stream/",
                    origin=f"http://{common.HOST}:{port}",
                    compression=None,
                    proxy=None,
                    open_timeout=60,
                    max_queue=None,
                )
                await ws.send(json.dumps({"type": "auth", "token": spec.token}))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if reply.get("type") != "ready":
                    failures[f"auth answer {reply}"] += 1
                    await ws.close()
                    return
            except Exception as exc:  # noqa: BLE001  (counted and reported)
                failures[type(exc).__name__ + ": " + str(exc)[:80]] += 1
                return
        sockets[index] = ws

    async def read(index: int, ws, allowed: frozenset[str]) -> None:
        monotonic, loads = time.monotonic, json.loads
        try:
            async for raw in ws:
                now = monotonic()
                last_arrival[0] = now
                message = loads(raw)
                kind = message.get("type")
                tenant = message.get("tenant")
                if tenant is not None and tenant not in allowed:
                    wrong.append((index, tenant, kind))
                if kind == "alert.created":
                    records.append((message["id"], index, now))
                else:
                    kinds[kind] += 1
        except Exception as exc:  # noqa: BLE001  (a socket closed under us: reported)
            failures[f"socket closed: {type(exc).__name__}"] += 1

    started = loop.time()
    await asyncio.gather(*(open_one(i, s) for i, s in enumerate(specs)))
    readers = [
        asyncio.create_task(read(i, ws, frozenset(specs[i].allowed)))
        for i, ws in enumerate(sockets)
        if ws is not None
    ]
    opened = sum(ws is not None for ws in sockets)
    pipe.send(("ready", opened, loop.time() - started, dict(failures)))

    command = await loop.run_in_executor(None, pipe.recv)  # ("drain", quiet, limit)
    _, quiet, limit = command
    deadline = loop.time() + limit
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        if time.monotonic() - last_arrival[0] >= quiet:
            break
    pipe.send(("records", records, wrong, dict(kinds), dict(failures), opened))
    for task in readers:
        task.cancel()
    await asyncio.gather(
        *(asyncio.wait_for(ws.close(), 5) for ws in sockets if ws is not None),
        return_exceptions=True,
    )


# --- the raw channel-layer baseline -----------------------------------------------------------
def receiver_process(pipe, groups_per_channel: list[list[str]], redis_url: str) -> None:
    asyncio.run(_receiver_main(pipe, groups_per_channel, redis_url))
    pipe.close()


async def _receiver_main(pipe, groups_per_channel, redis_url) -> None:
    from channels_redis.core import RedisChannelLayer

    loop = asyncio.get_running_loop()
    layer = RedisChannelLayer(hosts=[redis_url], prefix=RAW_PREFIX, capacity=1000)
    channels = []
    for groups in groups_per_channel:
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        channels.append(channel)
    records: list[tuple[int, int, float]] = []  # (seq, channel index, latency)
    last = [0.0]

    async def receive(index: int, channel: str) -> None:
        while True:
            message = await layer.receive(channel)
            now = time.monotonic()
            last[0] = now
            records.append((message["seq"], index, now - message["sent"]))

    tasks = [asyncio.create_task(receive(i, c)) for i, c in enumerate(channels)]
    pipe.send("ready")
    _, quiet, limit = await loop.run_in_executor(None, pipe.recv)
    deadline = loop.time() + limit
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        if time.monotonic() - last[0] >= quiet:
            break
    pipe.send(records)
    for task in tasks:
        task.cancel()
    await layer.flush()
    await layer.close_pools()


def sample_events(batch: int, slug: str) -> list[dict]:
    """What one intake request of `batch` alerts publishes: alert.created for each, and an
    incident event (the shape tenants.events builds)."""
    event = {
        "type": "alert.created",
        "event_id": "1764280000000-1",
        "tenant": slug,
        "id": "01968a1e-0000-7000-8000-000000000000",
        "at": "2026-11-27T22:00:00.000000+00:00",
        "data": {"severity": "high", "incident": "01968a1e-0000-7000-8000-000000000001"},
        "audience": ["staff", "customer"],
    }
    incident = {**event, "type": "incident.updated", "data": {"change": "alerts_added"}}
    incident["audience"] = ["staff", "customer", "work"]
    return [event] * batch + [incident]


async def raw_sender(groups: list[str], slugs: list[str], rate: float, batch, duration, warmup):
    from channels_redis.core import RedisChannelLayer

    loop = asyncio.get_running_loop()
    layer = RedisChannelLayer(hosts=[common.REDIS_URL], prefix=RAW_PREFIX, capacity=1000)
    payloads = [sample_events(batch, slug) for slug in slugs]
    total = int(rate * (warmup + duration))
    start = loop.time() + 0.05
    sent: list[tuple[int, int, float]] = []  # (seq, group index, scheduled)
    tasks = set()
    lateness = 0.0

    async def one(seq: int, index: int, scheduled: float) -> None:
        await layer.group_send(
            groups[index],
            {"type": "stream.events", "events": payloads[index], "seq": seq, "sent": scheduled},
        )

    for seq in range(total):
        scheduled = start + seq / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lateness = max(lateness, -delay)
        index = seq % len(groups)
        sent.append((seq, index, scheduled))
        task = asyncio.create_task(one(seq, index, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    await layer.close_pools()
    return sent, start + warmup, lateness


def run_raw_baseline(specs, slugs, members, rate, batch, duration, warmup):
    """members[t]: socket indices entitled to tenant t. Returns a result dict."""
    ctx = multiprocessing.get_context("spawn")
    by_process: list[list[int]] = [[], []]
    for index, spec in enumerate(specs):
        by_process[spec.port_index % 2].append(index)
    procs, pipes = [], []
    for indices in by_process:
        parent, child = ctx.Pipe()
        groups = [[f"tenant.{t}" for t in _tenant_indices(specs[i], slugs)] for i in indices]
        proc = ctx.Process(target=receiver_process, args=(child, groups, common.REDIS_URL))
        proc.start()
        child.close()
        procs.append(proc)
        pipes.append(parent)
    try:
        for pipe in pipes:
            if not pipe.poll(120):
                raise RuntimeError("channel-layer receivers did not start")
            pipe.recv()
        meter = stream.CpuMeter(extra={"receivers": [p.pid for p in procs]}).start()
        groups = [f"tenant.{t}" for t in range(len(slugs))]
        sent, measure_from, lateness = asyncio.run(
            raw_sender(groups, slugs, rate, batch, duration, warmup)
        )
        cpu = meter.stop()
        for pipe in pipes:
            pipe.send(("drain", 1.0, 15))
        received = []
        for pipe, indices in zip(pipes, by_process, strict=True):
            received += [(seq, indices[i], lat) for seq, i, lat in pipe.recv()]
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
    scheduled = {seq: (index, at) for seq, index, at in sent}
    latencies = [lat for seq, _, lat in received if scheduled[seq][1] >= measure_from]
    expected = sum(len(members[index]) for _, index, _ in sent)
    got = {(seq, sock) for seq, sock, _ in received}
    wrong = sum(1 for seq, sock, _ in received if sock not in members[scheduled[seq][0]])
    return {
        "latencies": latencies,
        "lost": expected - len(got),
        "expected": expected,
        "wrong": wrong,
        "cpu": cpu,
        "lateness": lateness,
        "sends": len(sent),
    }


def _tenant_indices(spec: SocketSpec, slugs: list[str]) -> list[int]:
    index = {slug: n for n, slug in enumerate(slugs)}
    return [index[s] for s in spec.allowed if s in index]


# --- the load: alerts over HTTP, open loop ----------------------------------------------------
@dataclass
class Sent:
    scheduled: float
    sent: float
    answered: float
    tenant: int
    alert_ids: list[str]


async def offered_load(batches, sources, ports, rate, single, duration, warmup, pool_size):
    """Requests scheduled every 1/rate s whatever the server does; a request that finds no
    idle connection waits for one (and that wait is part of its latency)."""
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue = asyncio.Queue()
    conns = []
    for n in range(pool_size):
        conn = await common.Connection.open(ports[n % len(ports)])
        conns.append(conn)
        idle.put_nowait(conn)
    errors: Counter = Counter()
    done: list[Sent] = []
    total = int(rate * (warmup + duration))
    start = loop.time() + 0.05
    measure_from = start + warmup
    tasks = set()
    lateness = 0.0

    async def one(scheduled: float, tenant: int, body: bytes) -> None:
        conn = await idle.get()
        try:
            raw = common.post_request(conn.port, INTAKE_PATH, sources[tenant].key, body)
            sent = loop.time()
            status, reply = await conn.request(raw)
            answered = loop.time()
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors[type(exc).__name__] += 1
            conn.close()
            conn = await common.Connection.open(conn.port)
            return
        finally:
            idle.put_nowait(conn)
        if status != 202:
            errors[f"HTTP {status}: {reply[:120]!r}"] += 1
            return
        document = json.loads(reply)
        done.append(Sent(scheduled, sent, answered, tenant, document["alerts"]))

    for n in range(total):
        scheduled = start + n / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lateness = max(lateness, -delay)
        tenant, body, _ = batches.next()
        if single:
            body = body[1:-1]
        task = asyncio.create_task(one(scheduled, tenant, body))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    ended = loop.time()
    for conn in conns:
        conn.close()
    return done, errors, measure_from, ended, lateness


def intake_line(done: list[Sent], measure_from: float) -> tuple[str, list[float]]:
    latencies = [s.answered - s.scheduled for s in done if s.scheduled >= measure_from]
    return stream.latency_line(latencies), latencies


# --- analysis -----------------------------------------------------------------------------------
def analyse(done: list[Sent], measure_from: float, records, members, specs, slugs):
    alerts: dict[str, tuple[float, int]] = {}
    for request in done:
        for alert_id in request.alert_ids:
            alerts[alert_id] = (request.scheduled, request.tenant)
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = defaultdict(list)
    got: set[tuple[str, int]] = set()
    duplicates = unmatched = wrong = 0
    for alert_id, sock, arrived in records:
        info = alerts.get(alert_id)
        if info is None:
            unmatched += 1
            continue
        scheduled, tenant = info
        if sock not in members[tenant]:
            wrong += 1
            continue
        if (alert_id, sock) in got:
            duplicates += 1
            continue
        got.add((alert_id, sock))
        if scheduled >= measure_from:
            latencies.append(arrived - scheduled)
            by_kind[specs[sock].kind].append(arrived - scheduled)
    expected = sum(len(members[tenant]) for _, tenant in alerts.values())
    lost_pairs = expected - len(got)
    lost_alerts = 0
    if lost_pairs:
        seen_by: dict[str, int] = Counter(alert_id for alert_id, _ in got)
        lost_alerts = sum(
            1 for a, (_, tenant) in alerts.items() if seen_by.get(a, 0) < len(members[tenant])
        )
    return {
        "alerts": len(alerts),
        "expected": expected,
        "delivered": len(got),
        "lost": lost_pairs,
        "lost_alerts": lost_alerts,
        "wrong_cross_check": wrong,
        "duplicates": duplicates,
        "unmatched": unmatched,
        "latencies": latencies,
        "by_kind": by_kind,
    }


# --- setup ----------------------------------------------------------------------------------------
def build_sockets(sources, total: int, analysts: int, analyst_tenants: int):
    """(specs, members, slugs): members[t] = socket indices entitled to tenant t's alerts."""
    tenants = len(sources)
    customers = total - analysts
    counts = [customers // tenants + (1 if n < customers % tenants else 0) for n in range(tenants)]
    people = stream.ensure_customers(sources, counts, role="viewer")
    step = max(1, tenants // max(1, analysts))
    staff = []
    for k in range(analysts):
        ids = [sources[(k * step + j) % tenants].tenant_id for j in range(analyst_tenants)]
        staff.append(stream.ensure_staff(f"bench-ws-analyst-{k:02d}", "analyst_l2", ids))
    stream.issue_tokens(people + staff)
    slugs = [s.slug for s in sources]
    index_of = {s.tenant_id: n for n, s in enumerate(sources)}
    slug_of = stream.tenant_slugs({t for p in staff for t in p.tenant_ids} | set(index_of))
    specs: list[SocketSpec] = []
    members: list[set[int]] = [set() for _ in sources]
    everyone = [("customer", p) for p in people] + [("analyst", p) for p in staff]
    for n, (kind, person) in enumerate(everyone):
        allowed = sorted(slug_of[t] for t in person.tenant_ids)
        specs.append(SocketSpec(person.token, n % 2, allowed, kind))
        for tenant_id in person.tenant_ids:
            if tenant_id in index_of:
                members[index_of[tenant_id]].add(n)
    return specs, members, slugs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds each")
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--analysts", type=int, default=20, help="analyst sockets among them")
    parser.add_argument("--analyst-tenants", type=int, default=50, help="tenants each works")
    parser.add_argument("--rate", type=float, default=1000, help="alerts a second")
    parser.add_argument("--batch", type=int, default=5, help="alerts a request (1 = single)")
    parser.add_argument("--duration", type=float, default=30, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--baseline-duration", type=float, default=15)
    parser.add_argument("--pool", type=int, default=48, help="HTTP connections, all daphnes")
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated phases: raw,intake,sockets")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.baseline_duration = 8, 2, 5
    phases = set(args.only.split(",")) if args.only else {"raw", "intake", "sockets"}
    request_rate = args.rate / args.batch

    common.configure_environment()
    limit = stream.raise_open_files(args.sockets + args.pool + 1024)
    print("Ingest-to-websocket benchmark: " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"machine: {common.machine()}")
    print(f"load before: {common.uptime()}")
    run_started = time.monotonic()
    results: dict[str, object] = {}

    with common.section("setup: database, tenants, users and tokens, workload"):
        common.ensure_database()
        common.setup_django()
        from bench.ingest_batch import Batches

        sources = common.ensure_tenants(args.tenants)
        specs, members, slugs = build_sockets(
            sources, args.sockets, args.analysts, args.analyst_tenants
        )
        workload = common.Workload(sources, 0)
        batches = Batches(workload, args.batch, 0.0)
        per_alert = sum(len(m) for m in members) / len(members)
        print(
            f"   {len(sources)} tenants; {len(specs)} sockets: "
            f"{sum(s.kind == 'customer' for s in specs)} customers (viewer), "
            f"{sum(s.kind == 'analyst' for s in specs)} analysts x {args.analyst_tenants} "
            f"tenants; {per_alert:.1f} entitled sockets per alert on average"
        )
        print(
            f"   load: {args.rate:,.0f} alerts/s as {request_rate:,.0f} requests/s of "
            f"{args.batch} alert(s); open files limit {limit}"
        )

    if "raw" in phases:
        with common.section(
            f"BASELINE raw channel layer: {request_rate:,.0f} group_send/s to {len(slugs)} "
            f"groups, {len(specs)} channels in 2 receiver processes (no daphne, no database)"
        ):
            common.flush_redis()
            raw = run_raw_baseline(
                specs,
                slugs,
                members,
                request_rate,
                args.batch,
                args.baseline_duration,
                args.warmup / 2,
            )
            results["raw"] = raw
            print(f"   group_send -> receive: {stream.latency_line(raw['latencies'])}")
            print(
                f"   deliveries {raw['expected'] - raw['lost']:,} of {raw['expected']:,} "
                f"(lost {raw['lost']:,}, wrong group {raw['wrong']}); sender lag at most "
                f"{raw['lateness'] * 1000:.1f} ms"
            )
            print(f"   {stream.format_cpu(raw['cpu'])}")

    if phases & {"intake", "sockets"}:
        common.reset_alerts([])
        with common.Daphnes(2, "mssp.settings", "ws") as daphnes:
            if "intake" in phases:
                with common.section(
                    f"BASELINE intake alone: {args.rate:,.0f} alerts/s, daphne x2, no socket open"
                ):
                    batches.reset()
                    meter = stream.CpuMeter(daphnes.pids).start()
                    done, errors, measure_from, _, lateness = asyncio.run(
                        offered_load(
                            batches,
                            sources,
                            daphnes.ports,
                            request_rate,
                            args.batch == 1,
                            args.baseline_duration,
                            args.warmup,
                            args.pool,
                        )
                    )
                    cpu = meter.stop()
                    line, latencies = intake_line(done, measure_from)
                    results["intake"] = latencies
                    answered = sum(len(s.alert_ids) for s in done if s.scheduled >= measure_from)
                    print(f"   request -> 202: {line}")
                    print(
                        f"   {answered / args.baseline_duration:,.0f} alerts/s answered; "
                        f"client lag at most {lateness * 1000:.1f} ms"
                    )
                    print(f"   {stream.format_cpu(cpu)}")
                    if errors:
                        print(f"   !! {sum(errors.values())} failed: {dict(errors.most_common(3))}")

            if "sockets" in phases:
                run_sockets_phase(args, daphnes, specs, members, slugs, sources, batches, results)

    summarize(args, results)
    print(f"\nload after: {common.uptime()}")
    print(f"total {time.monotonic() - run_started:.0f} s")
    return 0


def run_sockets_phase(args, daphnes, specs, members, slugs, sources, batches, results) -> None:
    request_rate = args.rate / args.batch
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=socket_process, args=(child, specs, daphnes.ports, args.connect_concurrency)
    )
    with common.section(f"connect {len(specs):,} sockets (token auth), spread over daphne x2"):
        proc.start()
        child.close()
        if not parent.poll(300):
            raise RuntimeError("sockets did not connect within 300 s")
        _, opened, seconds, failures = parent.recv()
        print(f"   {opened:,} of {len(specs):,} sockets ready in {seconds:.1f} s")
        if failures:
            print(f"   !! failures: {failures}")
    try:
        with common.section(
            f"OURS: {args.rate:,.0f} alerts/s through intake -> {opened:,} sockets, daphne x2"
        ):
            batches.reset()
            meter = stream.CpuMeter(daphnes.pids, extra={"sockets": [proc.pid]}).start()
            done, errors, measure_from, _, lateness = asyncio.run(
                offered_load(
                    batches,
                    sources,
                    daphnes.ports,
                    request_rate,
                    args.batch == 1,
                    args.duration,
                    args.warmup,
                    args.pool,
                )
            )
            cpu = meter.stop()
            parent.send(("drain", 2.0, 20))
            _, records, wrong, kinds, failures, _ = parent.recv()
            outcome = analyse(done, measure_from, records, members, specs, slugs)
            outcome["wrong_on_socket"] = len(wrong)
            outcome["cpu"] = cpu
            results["ours"] = outcome
            line, intake_latencies = intake_line(done, measure_from)
            results["ours_intake"] = intake_latencies
            answered = sum(len(s.alert_ids) for s in done if s.scheduled >= measure_from)
            print(
                f"   intake -> socket (alert.created): {stream.latency_line(outcome['latencies'])}"
            )
            for kind, values in sorted(outcome["by_kind"].items()):
                print(f"     {kind} sockets: {stream.latency_line(values)}")
            print(f"   request -> 202 meanwhile: {line}")
            print(
                f"   {answered / args.duration:,.0f} alerts/s answered; client lag at most "
                f"{lateness * 1000:.1f} ms"
            )
            print(
                f"   alerts accepted {outcome['alerts']:,}; deliveries {outcome['delivered']:,} "
                f"of {outcome['expected']:,} expected; LOST {outcome['lost']:,} "
                f"({outcome['lost_alerts']:,} alerts short of a socket); WRONG TENANT "
                f"{len(wrong)} on sockets, {outcome['wrong_cross_check']} by alert id; "
                f"duplicates {outcome['duplicates']}, unmatched {outcome['unmatched']}"
            )
            print(f"   other messages: {kinds}")
            print(f"   {stream.format_cpu(cpu)}")
            if errors:
                print(
                    f"   !! {sum(errors.values())} failed requests: {dict(errors.most_common(3))}"
                )
            if failures:
                print(f"   !! socket failures: {failures}")
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.terminate()
            proc.join()


def summarize(args, results) -> None:
    print(
        f"\n== SUMMARY ({args.rate:,.0f} alerts/s in requests of {args.batch}, {args.sockets:,} "
        f"sockets over {args.tenants} tenants, daphne x2, channels-redis, PostgreSQL)"
    )

    def row(label: str, values: list[float] | None) -> None:
        if values:
            s = stream.summary(values)
            print(
                f"   {label:<44} p50 {s['p50']:>6.1f} ms  p99 {s['p99']:>7.1f} ms  "
                f"max {s['max']:>7.1f} ms"
            )

    raw = results.get("raw")
    row("BASELINE raw channel layer send->receive", raw["latencies"] if raw else None)
    row("BASELINE intake alone request->202", results.get("intake"))
    row("ours request->202 (sockets open)", results.get("ours_intake"))
    ours = results.get("ours")
    if ours:
        row("OURS intake request->socket", ours["latencies"])
        s = stream.summary(ours["latencies"])
        verdict = "MET" if s["p50"] < 20 else "NOT MET"
        print(f"   p50 {s['p50']:.1f} ms (target < 20 ms: {verdict}, {s['p50'] / 20:.2f}x target)")
        verdict = "MET" if s["p99"] < 100 else "NOT MET"
        print(
            f"   p99 {s['p99']:.1f} ms (target < 100 ms: {verdict}, {s['p99'] / 100:.2f}x target)"
        )
        lost = ours["lost"]
        wrong = ours["wrong_on_socket"] + ours["wrong_cross_check"]
        print(f"   lost {lost:,} (target 0: {'MET' if lost == 0 else 'NOT MET'})")
        print(f"   wrong tenant {wrong} (target 0: {'MET' if wrong == 0 else 'NOT MET'})")
        if raw and raw["latencies"]:
            extra = s["p50"] - stream.summary(raw["latencies"])["p50"]
            print(f"   ours p50 - raw channel layer p50: {extra:.1f} ms")


if __name__ == "__main__":
    os.chdir(common.ROOT)
    sys.exit(main())
