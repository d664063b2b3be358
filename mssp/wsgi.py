"""The WSGI application for the worker pool (gunicorn, `python -m mssp.serve --layout
production`): HTTP pages and the API. Websockets stay on daphne (mssp.asgi), behind the same
proxy (deploy/nginx.conf)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mssp.settings")
application = get_wsgi_application()
