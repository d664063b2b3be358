"""A real DNS server for the domain-verification tests (dnslib's, answering UDP on
127.0.0.1): TXT records a test publishes in `records` ({name: [values]}); every other name is
NXDOMAIN. `down` makes it answer SERVFAIL to every question (a resolver that cannot help)."""

from __future__ import annotations

from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSServer


class TestDnsServer(BaseResolver):
    __test__ = False

    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.questions: list[str] = []
        self.down = False
        self.server = DNSServer(self, port=0, address="127.0.0.1")
        self.port = self.server.server.server_address[1]

    def resolve(self, request: Any, handler: Any) -> Any:
        name = str(request.q.qname).rstrip(".").lower()
        self.questions.append(name)
        reply = request.reply()
        if self.down:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        values = self.records.get(name)
        if values is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in values:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=60))
        return reply

    def __enter__(self) -> TestDnsServer:
        self.server.start_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
