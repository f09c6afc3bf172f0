"""Registers the Merkana fulfilment endpoints on the Airflow API server, under ``/merkana``.

Only registration lives here; the app is ``orderbridge.channels.merkana.inbound``. Airflow imports plugins
in every component, so this import is cheap: nothing connects until a request comes. Airflow does
not authenticate plugin routes; the app checks each platform's ``api-token`` itself.
"""

from airflow.plugins_manager import AirflowPlugin

from orderbridge.channels.merkana.inbound import create_app

URL_PREFIX = "/merkana"
app = create_app()


class MerkanaFulfilmentPlugin(AirflowPlugin):
    name = "orderbridge_merkana"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Merkana fulfilment endpoints"}]
