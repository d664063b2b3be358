"""Where an intake request spends its time (not a test): runs batches (or single alerts)
through Django's handler in-process, as daphne would, under cProfile or pyinstrument, and
prints the heaviest functions. Uses the bench database (see bench/_common.py).

    .venv/bin/python bench/profile_intake.py                       # 40 batches of 500, cProfile
    .venv/bin/python bench/profile_intake.py --batch 1 --requests 2000
    .venv/bin/python bench/profile_intake.py --pyinstrument        # call tree instead
    .venv/bin/python bench/profile_intake.py --sql                 # time per SQL statement
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common as common  # noqa: E402
from bench.ingest_batch import INTAKE_PATH, Batches, check_response  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--redelivered", type=float, default=0.2)
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--sql", action="store_true", help="no profiler: wall time per statement")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumtime)")
    args = parser.parse_args()

    common.configure_environment()
    common.ensure_database()
    common.setup_django()
    sources = common.ensure_tenants(args.tenants)
    history = 100 if args.redelivered else 0
    workload = common.Workload(sources, history)
    batches = Batches(workload, args.batch, args.redelivered if args.batch > 1 else 0)
    common.reset_alerts(workload.history_payloads())

    def run(requests: int) -> Counter:
        from django.core.handlers.base import BaseHandler
        from django.db import close_old_connections
        from django.test import RequestFactory

        handler = BaseHandler()
        handler.load_middleware()
        factory = RequestFactory(HTTP_HOST=common.HOST)
        errors: Counter = Counter()
        for _ in range(requests):
            tenant, body, old = batches.next()
            if args.batch == 1:
                body = body[1:-1]  # one JSON object, as a single-alert sender posts it
            request = factory.generic(
                "POST",
                INTAKE_PATH,
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {sources[tenant].key}",
            )
            response = handler.get_response(request)
            close_old_connections()
            check_response(response.status_code, response.content, args.batch, old, errors)
        return errors

    common.run_in_loop_thread(run, max(2, args.requests // 10))  # warm up
    if args.sql:
        from django.db import connection

        statements: dict[str, list] = defaultdict(lambda: [0, 0.0])

        def timed(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                entry = statements[re.sub(r"\s+", " ", sql).strip()[:90]]
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        def with_timing(requests: int) -> Counter:
            with connection.execute_wrapper(timed):
                return run(requests)

        started = time.perf_counter()
        errors = common.run_in_loop_thread(with_timing, args.requests)
        elapsed = time.perf_counter() - started
        in_sql = sum(t for _, t in statements.values())
        print(f"{'calls':>7} {'ms/request':>10}  statement (first 90 characters)")
        for sql, (calls, seconds) in sorted(statements.items(), key=lambda kv: -kv[1][1])[:25]:
            print(f"{calls / args.requests:7.1f} {seconds / args.requests * 1000:10.2f}  {sql}")
        print(
            f"SQL (round trip + server; COMMIT not included): {in_sql / args.requests * 1000:.2f} "
            f"ms of {elapsed / args.requests * 1000:.2f} ms a request"
        )
    elif args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")

        def sampled(requests: int) -> Counter:
            profiler.start()  # in the request thread, which is the one it samples
            try:
                return run(requests)
            finally:
                profiler.stop()

        started = time.perf_counter()
        errors = common.run_in_loop_thread(sampled, args.requests)
        elapsed = time.perf_counter() - started
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    else:
        profile = cProfile.Profile()
        started = time.perf_counter()

        def profiled(requests: int) -> Counter:
            profile.enable()
            try:
                return run(requests)
            finally:
                profile.disable()

        errors = common.run_in_loop_thread(profiled, args.requests)
        elapsed = time.perf_counter() - started
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    alerts = args.requests * args.batch
    print(
        f"{args.requests} requests of {args.batch} alerts in {elapsed:.2f} s (measured): "
        f"{alerts / elapsed:,.0f} alerts/s, {elapsed / args.requests * 1000:.1f} ms a request"
    )
    if errors:
        print(f"!! errors: {dict(errors)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
