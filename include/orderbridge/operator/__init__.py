"""The operator's page: the attention queue, one order's whole story, fix-and-retry actions and the
deadline watch, served on the Airflow API server by ``plugins/orderbridge_ops.py``.

How Airflow 3.3 does it (read in ``airflow/plugins_manager.py``, ``airflow/api_fastapi/app.py``,
``airflow/api_fastapi/core_api/security.py`` and ``auth/managers/simple/``):

- A plugin's ``fastapi_apps`` entry (``{"app", "url_prefix", "name"}``) is ``app.mount``-ed on the API
  server (``init_plugins``); ``/api/v2``, ``/ui``, ``/execution``, ``/auth`` and ``/pluginsv2`` are
  reserved. **Airflow does not authenticate mounted apps**: each route must depend on the auth manager.
- ``external_views`` (``name``, ``href``, ``destination`` ``nav``/``dag``/..., ``url_route``) add a nav
  entry; with ``url_route`` the UI shows ``href`` in an iframe at ``/plugin/<url_route>``. Same origin,
  so the browser sends the ``_token`` cookie (HttpOnly, SameSite=Lax) the login sets to our routes too.
  ``react_apps`` (a JS bundle) would need a build; a static page needs none.
- ``security.get_user`` resolves the user from ``Authorization: Bearer <JWT>`` or the ``_token`` cookie
  through ``get_auth_manager()`` (401 without either or when expired, 403 for a bad token);
  ``requires_access_*`` then ask the auth manager ``is_authorized_*`` and answer 403.
  (``AuthManagerDep`` reads ``request.app.state``, which is our sub-app's, so we call
  ``get_auth_manager()`` as ``get_user`` does.)
- SimpleAuthManager's roles are VIEWER < USER < OP < ADMIN; ``is_authorized_custom_view`` lets any
  VIEWER do any method, so it cannot tell reading from changing. Here reading needs the custom view
  ``orderbridge`` (GET); changing needs that (POST) **and** the right to run the order's DAG
  (``is_authorized_dag`` PUT on its runs: USER and above under SimpleAuthManager; per DAG under FAB or
  Keycloak, so a person may fix only the accounts whose DAGs they may run) (``auth.py``).
"""
