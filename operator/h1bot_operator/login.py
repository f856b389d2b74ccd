"""kopf's login: the operator's credentials (h1bot_kube, the same the reconciles use) as a `kopf.ConnectionInfo`.

kopf calls the login handler at start, again on a 401, and again when `expiration` has passed: each call loads the
credentials afresh (an exec plugin runs again, a token file is read again).
"""

import kopf

from h1bot_kube import Credentials


def connection_info(credentials: Credentials, trust_env: bool = False) -> kopf.ConnectionInfo:
    """`trust_env`: kopf's settings.networking.trust_env (proxies from the environment), as kopf's own logins do."""
    configuration = credentials.configuration
    scheme, token = None, None
    if credentials.authorization:
        scheme, _, token = credentials.authorization.partition(" ")
        if not token:
            scheme, token = None, scheme
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        scheme=scheme,
        token=token,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
        default_namespace=credentials.namespace,
        proxy_url=configuration.proxy or None,
        expiration=credentials.expiration,
        trust_env=trust_env,
    )
