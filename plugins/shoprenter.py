"""Registers the Shoprenter webhook receiver on the Airflow API server, under ``/shoprenter``.

Only registration lives here; the app is ``orderbridge.channels.shoprenter.inbound``. Airflow does
not authenticate plugin routes; each shop's URL carries its own secret, checked by the app.
"""

from airflow.plugins_manager import AirflowPlugin

from orderbridge.channels.shoprenter.inbound import create_app

URL_PREFIX = "/shoprenter"
app = create_app()


class ShoprenterWebhookPlugin(AirflowPlugin):
    name = "orderbridge_shoprenter"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Shoprenter webhooks"}]
