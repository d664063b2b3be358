"""SLA sweep benchmark (not a test): how late breaches are detected when a million SLA clocks
are open and a tenth of them fall due within a minute, with the portal's own design (the
clocks' due times are indexed columns, claimed FOR UPDATE SKIP LOCKED by `sla.tasks.
sweep_clocks`, sent every second by a real Celery beat to a real Celery worker) next to a
BASELINE measured in the same run: the same breaches handled by one Celery ETA task per clock
(apply_async(eta=due_at) of a task that loads the clock, checks it, and fires it with the same
firing code).

    .venv/bin/python bench/sla_sweep.py             # 1,000,000 clocks, 100,000 due in 60 s
    .venv/bin/python bench/sla_sweep.py --small     # 100,000 clocks, 10,000 due in 30 s
    .venv/bin/python bench/sla_sweep.py --only sweep --fresh --window 60 --drain 60

Its own database mssp_bench_sla (created and migrated when missing: migrate creates the app
role and row-level security) and Redis db 12 (flushed before each phase: broker, cache, channel
layer and event streams under the prefix mssp-bench-sla). Only 127.0.0.1.

Data (psycopg COPY as the schema owner, one transaction, secondary indexes rebuilt after;
kept for the next run of the same size unless --fresh): 500 tenants (bench-0000 ...), each with
one SLA contact (so each firing writes one outbox row); incidents with four clocks each
(acknowledge, notify, contain, resolve; 24x7; targets by severity). A random 10 % of the clocks
is the due set: before each phase its clocks get deadlines spread evenly over the window
(state at_risk: their at-risk warning fired at 75 % of the target, before the run), the rest
run with deadlines and at-risk times 1 to 30 days ahead (they never fire here; they are what
the sweep's indexes have to skip).

Each phase: wait (up to --max-wait in all) for the 1-minute load average to fall under
--load-limit, flush Redis db 12, arm the due set (deadlines from `lead` seconds ahead, timeline,
audit log and outbox emptied, VACUUM ANALYZE), start the worker (prefork, 2 processes, as the
app role: what `make run` starts) and, for the sweep, beat with the portal's schedule; sample
worker RSS (main process + pool children), Redis (the broker's keys and used_memory) and CPU
per process group every 0.5 s until every due clock has fired or --drain seconds after the
window; stop them; read the results from the database and the event streams:

- lag fired: breach_fired_at - due_at (the firing's `now`: the moment the sweep or task that
  claimed the clock started);
- lag visible: the sla.breached stream event's append time (after commit) - due_at: when a
  watching analyst could see it;
- duplicates: clocks with more than one timeline entry, audit entry, outbox row or stream
  event; clocks outside the due set that fired; due clocks that never fired.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _sla as sla  # noqa: E402  (sets the bench's database before _common loads)
from bench._common import machine, percentile, section, uptime  # noqa: E402

Lag = tuple[float, bool]  # seconds, and whether it is only a lower bound (never fired)


def lags(out: sla.Outcome, which: str) -> list[Lag]:
    """Every due clock's lag, sorted. A clock that never fired (or never reached the stream)
    by the end of the phase counts with its lower bound, end - due_at, so that percentiles
    are over all due clocks, not only over the ones that fired."""
    values = out.fired_lag if which == "fired" else out.published_lag
    fired = [(lag, False) for lag in values]
    column = 1 if which == "fired" else 2
    fired += [(out.ended - row[0], True) for row in out.by_due if row[column] is None]
    return sorted(fired)


def pick(values: list[Lag], q: float) -> Lag:
    """The q-th percentile; while any clock is unfired it is only a lower bound (replacing
    unknown lags by smaller bounds can only lower an order statistic)."""
    if not values:
        return (float("nan"), False)
    value = values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))][0]
    return (value, any(bound for _, bound in values))


def fmt(lag: Lag) -> str:
    value, bound = lag
    return f">= {value:.1f} s" if bound else f"{value:.3f} s"


def lag_line(values: list[Lag]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {fmt(pick(values, 50))}, p90 {fmt(pick(values, 90))}, "
        f"p99 {fmt(pick(values, 99))}, max {fmt(pick(values, 100))} (n={len(values):,})"
    )


def slices(out: sla.Outcome, width: float, window: float) -> list[str]:
    """Lag by when the clocks fell due: does a backlog build up during the window?"""
    lines = []
    start = 0.0
    while start < window - 1e-9:
        part = [lag for due, lag, _ in out.by_due if start <= due < start + width]
        fired = sorted(lag for lag in part if lag is not None)
        if part:
            lines.append(
                f"     due {start:4.0f}-{start + width:<4.0f}s: p50 {percentile(fired, 50):7.3f}"
                f"  p99 {percentile(fired, 99):7.3f}  max {fired[-1] if fired else -1:7.3f}"
                + (f"  NOT FIRED {len(part) - len(fired):,}" if len(part) > len(fired) else "")
            )
        start += width
    return lines


def run_phase(name: str, args, due: int, budget: list[float]) -> dict:
    """One phase: `sweep` (beat + worker running sla.tasks.sweep_clocks) or `eta` (one ETA
    task per due clock). Returns what the summary prints."""
    import psycopg

    from bench import _common as common

    waited, load = sla.wait_for_quiet(args.load_limit, budget[0] if name == "sweep" else min(
        budget[0], args.max_wait_between))  # fmt: skip
    budget[0] -= waited
    print(f"   waited {waited:.0f} s for load; 1-min load now {load:.2f}", flush=True)
    print(f"   {uptime()}", flush=True)
    sla.park()
    common.flush_redis()
    client = sla.redis_client()
    eta = name == "eta"
    env = {} if args.deliver else {"BENCH_SLA_PARK_DELIVERIES": "1"}
    if eta and args.eta_db_pool is not None:
        env["DB_POOL"] = args.eta_db_pool
    published = 0.0
    samples = sla.Samples()
    with sla.Celery(name, beat=not eta, env=env) as celery:
        ready = time.monotonic()
        # Arming (an UPDATE of the due set, then VACUUM) takes about 1 s per 12,000 clocks;
        # the ETA worker must then take every task from the broker before they fall due (in
        # production they are published when the clocks start, long before).
        lead = args.lead + 1 + due / 12_000 + (due / args.eta_ingest_rate if eta else 0.0)
        start = datetime.now(UTC) + timedelta(seconds=lead)
        armed = sla.arm(start, args.window, due)
        print(
            f"   armed {due:,} clocks due from +{lead:.0f} s over {args.window:.0f} s "
            f"({armed:.1f} s)"
        )
        if eta:
            published = sla.eta_publish(sla.due_clocks())
            print(f"   published {due:,} ETA tasks in {published:.1f} s ({due / published:,.0f}/s)")
        # until the window opens: sample, and see when the worker holds every ETA task
        ingested = None
        while (ahead := (start - datetime.now(UTC)).total_seconds()) > 0:
            samples.take(-ahead, celery, client)
            if ingested is None and samples.broker_queued[-1] == 0:
                ingested = time.monotonic() - ready
            time.sleep(min(0.5, ahead))
        if eta:
            held = samples.broker_unacked[-1] if samples.at else 0
            print(
                f"   the worker held {held:,.0f} of {due:,} ETA tasks when the window opened"
                + (f" (all taken {ingested:.1f} s after it was ready)" if ingested else "")
            )
        if ahead < -1:
            print(f"   WARNING: the window opened {-ahead:.1f} s before the phase was ready")
        cpu = sla.CpuMeter(celery.worker.pid, celery.beat.pid if celery.beat else None).start()
        opened = time.monotonic()
        window_first = len(samples.at)
        fired = 0
        next_count = 0.0
        with psycopg.connect(sla.OWNER_URL, autocommit=True) as conn:
            while True:
                t = time.monotonic() - opened
                samples.take(t, celery, client)
                cpu.sample()
                if t >= next_count:
                    fired = sla.fired_so_far(conn)
                    samples.fired.append((t, fired))
                    next_count = t + 1.0
                if t > args.window and fired >= due:
                    break
                if t > args.window + (args.eta_drain if eta else args.drain):
                    print(f"   drain limit: {due - fired:,} of {due:,} not fired yet")
                    break
                time.sleep(0.5)
        used = cpu.stop()
        elapsed = time.monotonic() - opened
        ended = (datetime.now(UTC) - start).total_seconds()
        time.sleep(1.0)  # late stream appends (after commit) land before we read them
        if eta:
            celery.kill()
    out = sla.outcome(start, client)
    out.ended = ended
    rss = samples.worker_rss[window_first:]
    at = samples.at[window_first:]
    result = {
        "name": name,
        "out": out,
        "samples": samples,
        "cpu": used,
        "elapsed": elapsed,
        "load_before": load,
        "published": published,
        "rss_ready": samples.worker_rss[0] if samples.worker_rss else rss[0],
        "rss_start": rss[0],
        "rss_max": max(rss),
        "rss_end": rss[-1],
        "rss_slope": sla.slope_per_minute(at, rss),
        "rss_slope_late": sla.slope_per_minute(
            [t for t in at if t >= args.window / 2],
            [v for t, v in zip(at, rss, strict=True) if t >= args.window / 2],
        ),  # fmt: skip
        "rss_series": [
            (t, value)
            for n, (t, value) in enumerate(zip(samples.at, samples.worker_rss, strict=True))
            if n % 20 == 0 or n == len(samples.at) - 1
        ],
        "main_max": max(samples.worker_main_rss),
        "broker_max": max(samples.broker_bytes),
        "unacked_max": max(samples.broker_unacked),
        "queued_max": max(samples.broker_queued[window_first:]),
        "parked_end": samples.broker_parked[-1],
        "redis_delta": max(samples.redis_used) - samples.redis_used[0],
    }
    report_phase(result, args)
    return result


def report_phase(r: dict, args) -> None:
    out: sla.Outcome = r["out"]
    print(f"   fired {out.fired:,} of {out.due:,} due; not fired {out.not_fired:,}; "
          f"fired outside the due set {out.fired_outside:,}")  # fmt: skip
    print(f"   lag fired   (breach_fired_at - due_at): {lag_line(lags(out, 'fired'))}")
    print(f"   lag visible (stream event - due_at):    {lag_line(lags(out, 'visible'))}")
    span = out.last_fired - out.first_fired
    if span > 0:
        print(
            f"   firings from +{out.first_fired:.1f} s to +{out.last_fired:.1f} s: "
            f"{out.fired / span:,.0f}/s on average (offered {out.due / args.window:,.0f}/s)"
        )
    print("   lag fired by due time:")
    for line in slices(out, 10.0, args.window):
        print(line)
    print(
        f"   duplicates: timeline {out.timeline_dupes} (rows {out.timeline:,}), audit "
        f"{out.audit_dupes} (rows {out.audit:,}), outbox {out.outbox_dupes} (rows "
        f"{out.outbox:,}), stream {out.stream_dupes} (events {out.stream:,})"
    )
    print(
        f"   notifications delivered by the end {out.delivered:,}"
        + (
            ""
            if args.deliver
            else f" (delivery tasks parked: {r['parked_end']:,.0f}; see --deliver)"
        )
    )
    print(
        f"   worker RSS (main + 2 pool processes): {r['rss_ready']:.0f} MiB when ready, "
        f"{r['rss_start']:.0f} when the window opened, max {r['rss_max']:.0f}, end "
        f"{r['rss_end']:.0f}; slope from the window's opening {r['rss_slope']:+.1f} MiB/min, "
        f"from its middle {r['rss_slope_late']:+.1f} MiB/min; main process max "
        f"{r['main_max']:.0f} MiB"
    )
    print(
        "   worker RSS every 10 s: "
        + ", ".join(f"{t:+.0f}s {value:.0f}" for t, value in r["rss_series"])
    )
    print(
        f"   Redis broker keys max {r['broker_max'] / 2**20:.1f} MiB (unacked max "
        f"{r['unacked_max']:,.0f} messages; queued in the window max {r['queued_max']:,.0f}); "
        f"Redis used_memory grew {r['redis_delta'] / 2**20:+.1f} MiB (whole server)"
    )
    print(f"   {sla.format_cpu(r['cpu'])} over {r['elapsed']:.0f} s")


def summary(results: list[dict], args) -> None:
    def cell(r: dict, key: str) -> str:
        out: sla.Outcome = r["out"]
        fired, visible = lags(out, "fired"), lags(out, "visible")
        values = {
            "lag p50": fmt(pick(fired, 50)),
            "lag p99": fmt(pick(fired, 99)),
            "lag max": fmt(pick(fired, 100)),
            "visible p99": fmt(pick(visible, 99)),
            "visible max": fmt(pick(visible, 100)),
            "fired / due": f"{out.fired:,} / {out.due:,}",
            "duplicates": str(
                out.timeline_dupes + out.audit_dupes + out.outbox_dupes + out.stream_dupes
                + out.fired_outside
            ),
            "worker RSS open/max/end": f"{r['rss_start']:.0f}/{r['rss_max']:.0f}/"
            f"{r['rss_end']:.0f} MiB",
            "worker RSS slope": f"{r['rss_slope']:+.1f} MiB/min",
            "RSS slope, 2nd half": f"{r['rss_slope_late']:+.1f} MiB/min",
            "broker keys max": f"{r['broker_max'] / 2**20:.1f} MiB",
            "worker CPU": f"{r['cpu']['worker']:.2f} cores",
            "PostgreSQL CPU": f"{r['cpu']['pg_bench'] + r['cpu']['pg_exited']:.2f} cores",
            "others' CPU": f"{r['cpu']['other'] + r['cpu']['pg_other']:.2f} cores",
            "load before": f"{r['load_before']:.2f}",
        }  # fmt: skip
        return values[key]

    names = {"sweep": "ours (sweep)", "eta": "baseline (ETA)"}
    keys = (
        "lag p50", "lag p99", "lag max", "visible p99", "visible max", "fired / due",
        "duplicates", "worker RSS open/max/end", "worker RSS slope", "RSS slope, 2nd half",
        "broker keys max",
        "worker CPU", "PostgreSQL CPU", "others' CPU", "load before",
    )  # fmt: skip
    print(f"   {'':26}" + "".join(f"{names[r['name']]:>26}" for r in results))
    for key in keys:
        print(f"   {key:26}" + "".join(f"{cell(r, key):>26}" for r in results))
    for r in results:
        if r["name"] == "sweep":
            out = r["out"]
            p99 = pick(lags(out, "fired"), 99)
            dupes = out.timeline_dupes + out.audit_dupes + out.outbox_dupes + out.stream_dupes
            met = p99[0] < 2.0 and out.not_fired == 0 and dupes + out.fired_outside == 0
            print(
                "   target (lag p99 < 2 s, every due clock fired, no duplicates): "
                f"{'MET' if met else 'MISSED'} (p99 {fmt(p99)})"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="100,000 clocks, 30 s window")
    parser.add_argument("--clocks", type=int, help="open clocks (default 1,000,000)")
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--due-fraction", type=float, default=0.10)
    parser.add_argument("--window", type=float, help="seconds over which the due set falls due")
    parser.add_argument("--lead", type=float, default=6.0, help="seconds before the window")
    parser.add_argument("--drain", type=float, help="seconds after the window to wait at most")
    parser.add_argument("--only", default="sweep,eta", help="phases: sweep,eta")
    parser.add_argument("--fresh", action="store_true", help="reload even if the data is there")
    parser.add_argument("--max-wait", type=float, default=600, help="seconds to wait for load")
    parser.add_argument("--load-limit", type=float, default=1.0)
    parser.add_argument(
        "--eta-ingest-rate",
        type=float,
        default=1100,
        help="ETA tasks/s the worker is assumed to take from the broker (places the baseline's "
        "window after it)",
    )
    parser.add_argument(
        "--max-wait-between",
        type=float,
        default=90,
        help="seconds to wait at most for load before the second phase",
    )
    parser.add_argument(
        "--eta-drain",
        type=float,
        default=5,
        help="seconds after the window the baseline may still fire (it cannot catch up here)",
    )
    parser.add_argument(
        "--eta-db-pool",
        choices=("0", "1"),
        help="DB_POOL for the baseline's worker (default: as the portal, 1; Celery's Django "
        "fixup then closes the pool around every task, so each task opens new connections)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after setup, EXPLAIN ANALYZE the sweep's claim with the whole due set overdue "
        "and time sweep() in-process (use with --only '' to skip the phases)",
    )
    parser.add_argument(
        "--deliver",
        action="store_true",
        help="let the worker deliver the notifications too (default: their tasks are parked)",
    )
    args = parser.parse_args()
    args.clocks = args.clocks or (100_000 if args.small else 1_000_000)
    args.window = args.window or (30.0 if args.small else 60.0)
    args.drain = args.drain if args.drain is not None else (20.0 if args.small else 45.0)
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    began = time.monotonic()

    print(f"SLA sweep benchmark: {args.clocks:,} open clocks over {args.tenants} tenants, "
          f"{args.due_fraction:.0%} due over {args.window:.0f} s "
          f"({args.clocks * args.due_fraction / args.window:,.0f} breaches/s offered)")  # fmt: skip
    print(f"   {machine()}")
    print(f"   before: {uptime()}")
    with section("setup"):
        from bench import _common as common

        common.ensure_database()
        sla.configure()
        tenants = [s.tenant_id for s in common.ensure_tenants(args.tenants)]
        sla.ensure_contacts(tenants)
        if not args.fresh and sla.reusable(args.clocks // 4 * 4, len(tenants)):
            due = sla.due_count()
            print(f"   reusing the loaded {args.clocks:,} clocks ({due:,} in the due set)")
        else:
            loaded = sla.load(tenants, args.clocks, args.due_fraction)
            due = loaded.due
            print(f"   loaded {loaded.incidents:,} incidents, {loaded.clocks:,} clocks "
                  f"({due:,} in the due set) over {loaded.tenants} tenants")  # fmt: skip
            for what, took in loaded.timings.items():
                print(f"     {what}: {took:.1f} s")
    if args.profile:
        with section("profile: the breach claim (EXPLAIN ANALYZE) and sweep() in this process"):
            for line in sla.profile_sweep(due):
                print(f"   {line}")
    budget = [args.max_wait]
    results = []
    titles = {
        "sweep": "ours: beat sends sla.tasks.sweep_clocks every second to the worker",
        "eta": "baseline: one Celery ETA task per due clock",
    }
    for name in phases:
        with section(titles[name]):
            results.append(run_phase(name, args, due, budget))
    if results:
        with section("ours vs baseline, same run"):
            summary(results, args)
    print(f"\n   after: {uptime()}")
    waited = args.max_wait - budget[0]
    print(f"   total {time.monotonic() - began:.0f} s, of which {waited:.0f} s waiting for load")
    return 0


if __name__ == "__main__":
    sys.exit(main())
