"""Registers the operator's page on the Airflow API server (under ``/orderbridge``) and in the UI's nav.

Only registration lives here; the app is ``orderbridge.operator`` (its docstring says how Airflow
serves plugin apps and why every route depends on the auth manager itself).
"""

from airflow.plugins_manager import AirflowPlugin

from orderbridge.operator.app import create_app

URL_PREFIX = "/orderbridge"
app = create_app()


class OrderbridgeOperatorPlugin(AirflowPlugin):
    name = "orderbridge_ops"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "orderbridge operator page"}]
    # url_route: the UI shows the page in its frame at /plugin/orders, with the nav beside it.
    external_views = [{"name": "Orders", "href": f"{URL_PREFIX}/", "destination": "nav", "url_route": "orders"}]
