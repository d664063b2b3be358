"""The production settings (mssp.settings) plus the tenant-context probe, for a daphne that a
test starts (tests.live). Nothing else differs."""

from mssp.settings import *  # noqa: F403
from mssp.settings import MIDDLEWARE

MIDDLEWARE = ["tests.live.TenantContextProbeMiddleware", *MIDDLEWARE]
