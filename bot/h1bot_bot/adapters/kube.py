"""The bot's own SlackBot in the cluster: read it once at start, record the bot's Slack identity in status.slack.

The `kubernetes` client blocks, so every call runs in a thread. In-cluster config first, then the kubeconfig.
"""

import asyncio
import logging
import os
from typing import Any

from h1bot_api import GROUP, PLURAL, VERSION
from h1bot_api.status import now_iso

log = logging.getLogger(__name__)


def _api():
    from kubernetes import client, config  # only bots running against a cluster need it

    configuration = client.Configuration()  # our own, not the process-wide default
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        # The client reads $KUBECONFIG once at its import; read it now instead.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration)
    return client.CustomObjectsApi(client.ApiClient(configuration))


class SlackBotResource:
    def __init__(self, name: str, namespace: str):
        self.name = name
        self.namespace = namespace
        self._custom_objects = None

    def _objects(self):
        if self._custom_objects is None:
            self._custom_objects = _api()
        return self._custom_objects

    async def read(self) -> dict[str, Any]:
        return await asyncio.to_thread(lambda: self._objects().get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name))

    async def record_identity(self, user_id: str, team_id: str, team: str = "") -> bool:
        """Merge-patch status.slack (the bot's own subtree); a failure is logged, never raised."""
        body = {"status": {"slack": {"botUserId": user_id, "teamId": team_id, "team": team,
                                     "connectedAt": now_iso()}}}
        try:
            await asyncio.to_thread(lambda: self._objects().patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, PLURAL, self.name, body,
                _content_type="application/merge-patch+json"))
            return True
        except Exception as exc:
            log.warning("could not record the bot's Slack identity in status.slack of %s/%s: %s",
                        self.namespace, self.name, exc)
            return False
