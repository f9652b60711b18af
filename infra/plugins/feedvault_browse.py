"""Airflow plugin loader: the feedvault archive browser at ``/feedvault`` in the API server.

Airflow (``plugins_folder = infra/plugins``) imports this file and registers every ``AirflowPlugin`` subclass
it finds; the plugin itself lives in :mod:`feedvault.web.airflow_plugin`. Set ``FEEDVAULT_BROWSE_TOKEN``.
"""

from feedvault.web.airflow_plugin import FeedvaultBrowsePlugin

__all__ = ["FeedvaultBrowsePlugin"]
