"""Ingest-to-websocket benchmark (not a test): latency from an alert's intake request to its
alert.created message on every socket entitled to it, with 2,000 sockets open over 500
tenants while alerts arrive, next to two BASELINES measured in the same run.

    .venv/bin/python bench/ingest_to_websocket.py            # full run, about 3 minutes
    .venv/bin/python bench/ingest_to_websocket.py --quick    # smoke run, about 2 minutes

Sockets: 2,000 over two daphne processes (socket i on process i mod 2) sharing one
channels-redis layer: 20 MSSP analysts (analyst_l2) each working 50 tenants (every tenant is
worked by two of them), and 1,980 customer portal users (viewer role, 3-4 per tenant), each
authenticated with its own API token ({"type": "auth", "token": ...}; tokens issued with
tenants.services.token_issue and kept in var/bench/stream-tokens.json while usable). They live
in a separate client process (asyncio + websockets) that timestamps every message on arrival.

Loads, both through POST /api/v1/intake/generic/ with each tenant's intake key, tenants in
turn, fresh source_refs (a redelivery raises no event), scheduled at a fixed rate (open loop:
the schedule does not wait for the server) over a pool of keep-alive connections to both
daphnes:
  main    --rate alerts/s (1,000) in requests of --batch alerts (100): the target rate. On two
          cores the intake cannot take 1,000 requests/s, nor 200 of 5, nor (with the sockets'
          fan-out) 20 of 50: ~20 ms of CPU per request (docs/PERFORMANCE.md); batches of 100
          are the smallest it absorbs with the sockets open.
  single  --single-rate single-alert requests/s (40): the latency of one alert, at a rate
          the intake sustains on this machine.
Latency runs from the request's *scheduled* send time to the arrival of alert.created on a
socket, matched by the alert id in the 202 answer. Lost: an (alert, entitled socket) pair that
never arrived (after the load, the client waits until no message came for 2 s); wrong tenant:
any message on a socket whose tenant the socket may not see (checked on the socket, and again
against the 202 answers).

Baselines, in the same run and on the same machine:
  raw channel layer  channels-redis group_send -> receive between processes, no daphne, no
                     database: the same groups (2,000 channels, same memberships, split over
                     two receiver processes), one group_send per request of the main load
                     carrying the events of its alerts; latency from group_send to receive.
  intake alone       each load through the same daphnes with no socket open: request -> 202.
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

    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] != "drain":  # ("close",)
            break
        _, quiet, limit = command  # wait until nothing arrived for `quiet` s (at most `limit`)
        deadline = loop.time() + limit
        while loop.time() < deadline:
            await asyncio.sleep(0.1)
            if time.monotonic() - last_arrival[0] >= quiet:
                break
        alive = sum(1 for ws in sockets if ws is not None and ws.state.name == "OPEN")
        pipe.send(("records", list(records), list(wrong), dict(kinds), dict(failures), alive))
        records.clear()
        wrong.clear()
        kinds.clear()
    for task in readers:
        task.cancel()
    await asyncio.gather(
        *(asyncio.wait_for(ws.close(), 5) for ws in sockets if ws is not None),
        return_exceptions=True,
    )
    pipe.send(("closed",))


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

    async def one(seq: int, index: int, scheduled: float) -> None:
        await layer.group_send(
            groups[index],
            {"type": "stream.events", "events": payloads[index], "seq": seq, "sent": scheduled},
        )

    def launch(scheduled: float):
        seq = len(sent)  # launches come one by one, in order
        index = seq % len(groups)
        sent.append((seq, index, scheduled))
        return one(seq, index, scheduled)

    lateness = await common.offer_at_rate(start, rate, total, launch)
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
    conns, idle = await common.connection_pool(ports, pool_size)
    errors: Counter = Counter()
    done: list[Sent] = []
    total = int(rate * (warmup + duration))
    start = loop.time() + 0.05
    measure_from = start + warmup

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

    def launch(scheduled: float):
        tenant, body, _ = batches.next()
        return one(scheduled, tenant, body[1:-1] if single else body)

    lateness = await common.offer_at_rate(start, rate, total, launch)
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
    answered: dict[str, float] = {}
    for request in done:
        for alert_id in request.alert_ids:
            alerts[alert_id] = (request.scheduled, request.tenant)
            answered[alert_id] = request.answered
    versus_answer: list[tuple[float, float]] = []
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
            versus_answer.append((arrived, answered[alert_id]))
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
        "arrival_vs_answer": versus_answer,
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


@dataclass
class Load:
    label: str  # "main" | "single"
    rate: float  # alerts a second
    batch: int  # alerts a request
    duration: float
    batches: object = None  # bench.ingest_batch.Batches

    @property
    def request_rate(self) -> float:
        return self.rate / self.batch

    def describe(self) -> str:
        if self.batch == 1:
            return f"{self.rate:,.0f} single-alert requests/s"
        return f"{self.rate:,.0f} alerts/s in {self.request_rate:,.0f} requests/s of {self.batch}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds each")
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--analysts", type=int, default=20, help="analyst sockets among them")
    parser.add_argument("--analyst-tenants", type=int, default=50, help="tenants each works")
    parser.add_argument("--rate", type=float, default=1000, help="alerts a second")
    parser.add_argument(
        "--batch", type=int, default=100, help="alerts a request at --rate (1 = single alerts)"
    )
    parser.add_argument(
        "--single-rate",
        type=float,
        default=40,
        help="a second load: single-alert requests a second, at a rate the intake sustains on "
        "this machine (0: skip)",
    )
    parser.add_argument("--duration", type=float, default=25, help="seconds measured")
    parser.add_argument("--single-duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=4)
    parser.add_argument("--baseline-duration", type=float, default=12)
    parser.add_argument("--pool", type=int, default=48, help="HTTP connections, all daphnes")
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated phases: raw,intake,sockets")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.single_duration, args.warmup, args.baseline_duration = 8, 6, 2, 5
    phases = set(args.only.split(",")) if args.only else {"raw", "intake", "sockets"}

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
        loads = [Load("main", args.rate, args.batch, args.duration)]
        if args.single_rate:
            loads.append(Load("single", args.single_rate, 1, args.single_duration))
        for n, load in enumerate(loads):
            # Never-sent source_refs in every phase (a redelivery raises no alert.created):
            # each load numbers its alerts from its own range and phases continue it.
            load.batches = Batches(workload, load.batch, 0.0, seed=7 + n)
            load.batches.first_seq = n * 500_000_000
            load.batches.reset()
        per_alert = sum(len(m) for m in members) / len(members)
        print(
            f"   {len(sources)} tenants; {len(specs)} sockets: "
            f"{sum(s.kind == 'customer' for s in specs)} customers (viewer), "
            f"{sum(s.kind == 'analyst' for s in specs)} analysts x {args.analyst_tenants} "
            f"tenants; {per_alert:.1f} entitled sockets per alert on average"
        )
        print(f"   loads: {'; '.join(load.describe() for load in loads)}; open files {limit}")

    if "raw" in phases:
        main_load = loads[0]
        with common.section(
            f"BASELINE raw channel layer: {main_load.request_rate:,.0f} group_send/s of "
            f"{main_load.batch} alerts' events (one per request of the main load) to "
            f"{len(slugs)} groups, {len(specs)} channels in 2 receiver processes (no daphne, "
            "no database)"
        ):
            common.flush_redis()
            raw = run_raw_baseline(
                specs,
                slugs,
                members,
                main_load.request_rate,
                main_load.batch,
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
                for load in loads:
                    with common.section(
                        f"BASELINE intake alone: {load.describe()}, daphne x2, no socket open"
                    ):
                        results[f"intake_{load.label}"] = run_intake_only(
                            args, daphnes, sources, load
                        )
            if "sockets" in phases:
                run_sockets_phase(args, daphnes, specs, members, slugs, sources, loads, results)

    summarize(args, loads, results)
    print(f"\nload after: {common.uptime()}")
    print(f"total {time.monotonic() - run_started:.0f} s")
    return 0


def run_intake_only(args, daphnes, sources, load: Load) -> list[float]:
    meter = stream.CpuMeter(daphnes.pids).start()
    done, errors, measure_from, _, lateness = asyncio.run(
        offered_load(
            load.batches,
            sources,
            daphnes.ports,
            load.request_rate,
            load.batch == 1,
            args.baseline_duration,
            args.warmup,
            args.pool,
        )
    )
    cpu = meter.stop()
    line, latencies = intake_line(done, measure_from)
    answered = sum(len(s.alert_ids) for s in done if s.scheduled >= measure_from)
    print(f"   request -> 202: {line}")
    print(
        f"   {answered / args.baseline_duration:,.0f} alerts/s answered; client lag at most "
        f"{lateness * 1000:.1f} ms"
    )
    print(f"   {stream.format_cpu(cpu)}")
    if errors:
        print(f"   !! {sum(errors.values())} failed requests: {dict(errors.most_common(3))}")
    return latencies


def run_sockets_phase(args, daphnes, specs, members, slugs, sources, loads, results) -> None:
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
        for load in loads:
            with common.section(f"OURS: {load.describe()} -> {opened:,} sockets, daphne x2"):
                results[f"ours_{load.label}"] = run_load_on_sockets(
                    args, daphnes, specs, members, slugs, sources, load, parent, proc.pid
                )
    finally:
        parent.send(("close",))
        if parent.poll(30):
            parent.recv()
        proc.join(timeout=30)
        if proc.is_alive():
            proc.terminate()
            proc.join()


def run_load_on_sockets(args, daphnes, specs, members, slugs, sources, load, parent, pid):
    meter = stream.CpuMeter(daphnes.pids, extra={"sockets": [pid]}).start()
    done, errors, measure_from, _, lateness = asyncio.run(
        offered_load(
            load.batches,
            sources,
            daphnes.ports,
            load.request_rate,
            load.batch == 1,
            load.duration,
            args.warmup,
            args.pool,
        )
    )
    cpu = meter.stop()
    parent.send(("drain", 2.0, 20))
    _, records, wrong, kinds, failures, alive = parent.recv()
    outcome = analyse(done, measure_from, records, members, specs, slugs)
    outcome["wrong_on_socket"] = len(wrong)
    outcome["cpu"] = cpu
    line, outcome["intake"] = intake_line(done, measure_from)
    after_202 = [
        arrived - answered
        for arrived, answered in outcome.pop("arrival_vs_answer")
        if arrived is not None
    ]
    answered = sum(len(s.alert_ids) for s in done if s.scheduled >= measure_from)
    print(
        f"   intake request -> socket (alert.created): {stream.latency_line(outcome['latencies'])}"
    )
    for kind, values in sorted(outcome["by_kind"].items()):
        print(f"     {kind} sockets: {stream.latency_line(values)}")
    print(f"   request -> 202 meanwhile: {line}")
    if after_202:
        s = stream.summary(after_202)
        print(
            f"   socket arrival minus the 202's arrival: p50 {s['p50']:+.1f} ms, p99 "
            f"{s['p99']:+.1f} ms (events are published after COMMIT, before the 202 is sent)"
        )
    print(
        f"   {answered / load.duration:,.0f} alerts/s answered; client lag at most "
        f"{lateness * 1000:.1f} ms; {alive:,} sockets open at the end"
    )
    print(
        f"   alerts accepted {outcome['alerts']:,}; deliveries {outcome['delivered']:,} of "
        f"{outcome['expected']:,} expected; LOST {outcome['lost']:,} ({outcome['lost_alerts']:,} "
        f"alerts short of a socket); WRONG TENANT {len(wrong)} on sockets, "
        f"{outcome['wrong_cross_check']} by alert id; duplicates {outcome['duplicates']}, "
        f"unmatched {outcome['unmatched']}"
    )
    print(f"   other messages: {kinds}")
    print(f"   {stream.format_cpu(cpu)}")
    if errors:
        print(f"   !! {sum(errors.values())} failed requests: {dict(errors.most_common(3))}")
    if failures:
        print(f"   !! socket failures: {failures}")
    return outcome


def summarize(args, loads, results) -> None:
    print(
        f"\n== SUMMARY ({args.sockets:,} sockets over {args.tenants} tenants, daphne x2, "
        "channels-redis, PostgreSQL; ms)"
    )

    def row(label: str, values: list[float] | None) -> None:
        if values:
            s = stream.summary(values)
            print(
                f"   {label:<72} p50 {s['p50']:>7.1f}  p99 {s['p99']:>7.1f}  max {s['max']:>7.1f}"
            )

    raw = results.get("raw")
    row("BASELINE raw channel layer, group_send -> receive", raw["latencies"] if raw else None)
    for load in loads:
        row(
            f"BASELINE intake alone, request -> 202 ({load.describe()})",
            results.get(f"intake_{load.label}"),
        )
        ours = results.get(f"ours_{load.label}")
        if ours:
            row(f"ours request -> 202, sockets open ({load.describe()})", ours["intake"])
            row(f"OURS intake request -> socket ({load.describe()})", ours["latencies"])
    for load in loads:
        ours = results.get(f"ours_{load.label}")
        if not ours or not ours["latencies"]:
            continue
        s = stream.summary(ours["latencies"])
        wrong = ours["wrong_on_socket"] + ours["wrong_cross_check"]
        print(f"   {load.describe()}:")
        print(
            f"     p50 {s['p50']:.1f} ms (target < 20 ms: {'MET' if s['p50'] < 20 else 'NOT MET'}"
            f", {s['p50'] / 20:.2f}x); p99 {s['p99']:.1f} ms (target < 100 ms: "
            f"{'MET' if s['p99'] < 100 else 'NOT MET'}, {s['p99'] / 100:.2f}x); lost "
            f"{ours['lost']:,} (target 0: {'MET' if ours['lost'] == 0 else 'NOT MET'}); wrong "
            f"tenant {wrong} (target 0: {'MET' if wrong == 0 else 'NOT MET'})"
        )


if __name__ == "__main__":
    os.chdir(common.ROOT)
    sys.exit(main())
