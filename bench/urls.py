"""The portal's URLs, then the bench-only baseline endpoint (not part of the app)."""

from django.urls import path

from mssp.urls import handler404, handler500, urlpatterns as portal_urlpatterns  # noqa: F401

from .baseline import BaselineIntakeView

urlpatterns = [
    *portal_urlpatterns,
    path("bench/baseline/intake/", BaselineIntakeView.as_view(), name="bench-baseline-intake"),
]
