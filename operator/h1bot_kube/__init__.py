"""Kubernetes credentials and clients, one way for the operator and the bot (both images install this package).

    credentials = load_credentials()          # in a pod, $KUBECONFIG, ~/.kube/config; the current context
    api = credentials.api_client()            # a `kubernetes` ApiClient that keeps its token fresh

Adapters only: the pure `h1bot_api` never imports this.
"""

from h1bot_kube.credentials import ApiClient, Credentials, load_credentials
from h1bot_kube.kubeconfig import KubeConfigError

__all__ = ["ApiClient", "Credentials", "KubeConfigError", "api_client", "load_credentials"]


def api_client(kubeconfig: str | None = None, context: str | None = None) -> ApiClient:
    """A `kubernetes` ApiClient with credentials from the usual places (see `load_credentials`)."""
    return load_credentials(kubeconfig, context).api_client()
