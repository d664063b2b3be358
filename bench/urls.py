"""The portal's URLs, then the bench-only baseline endpoint (not part of the app)."""

from django.urls import path

from mssp.urls import handler404, handler500  # noqa: F401
from mssp.urls import urlpatterns as portal_urlpatterns

from .baseline import BaselineIntakeView, FloorView

urlpatterns = [
    *portal_urlpatterns,
    path("bench/baseline/intake/", BaselineIntakeView.as_view(), name="bench-baseline-intake"),
    path("bench/floor/", FloorView.as_view(), name="bench-floor"),
]
