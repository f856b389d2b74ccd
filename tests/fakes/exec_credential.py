"""A kubeconfig exec credential plugin for tests, run as kubectl and h1bot run gke-gcloud-auth-plugin.

    python tests/fakes/exec_credential.py --token-file PATH [--expires-in SECONDS] [--api-version V] [--log PATH]
    python tests/fakes/exec_credential.py --cert PEM --key PEM     # a client certificate instead (tsh, pinniped)

Prints an ExecCredential with the token currently in PATH (so a test rotates it by rewriting the file) and, with
--expires-in, an expirationTimestamp that many seconds from now (a file `TOKEN EXPIRY`, RFC 3339, sets it instead).
Like a real plugin it refuses to run without the KUBERNETES_EXEC_INFO its caller must set, and answers in the
apiVersion asked for. --log appends a line per run (the token, its expiry, what KUBERNETES_EXEC_INFO said, and
AWS_PROFILE, which EKS kubeconfigs set in `exec.env`).
`exec_user()` builds the kubeconfig `user` entry that runs it with the current interpreter.
"""

import argparse
import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

V1 = "client.authentication.k8s.io/v1"


def exec_user(token_file: Path | None, expires_in: float | None = None, api_version: str = V1,
              log: Path | None = None, client_cert: tuple[Path, Path] | None = None, **extra: Any) -> dict[str, Any]:
    """A kubeconfig `user` whose credential comes from this plugin: a token, or `client_cert` (cert, key files)."""
    args = [__file__, "--api-version", api_version]
    args += ["--token-file", str(token_file)] if token_file else ["--cert", str(client_cert[0]), "--key",
                                                                  str(client_cert[1])]
    if expires_in is not None:
        args += ["--expires-in", str(expires_in)]
    if log is not None:
        args += ["--log", str(log)]
    return {"exec": {"apiVersion": api_version, "command": sys.executable, "args": args,
                     "interactiveMode": "Never", **extra}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token-file", type=Path)
    parser.add_argument("--cert", type=Path, help="hand out this client certificate (PEM) instead of a token")
    parser.add_argument("--key", type=Path)
    parser.add_argument("--expires-in", type=float)
    parser.add_argument("--api-version", default=V1)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()
    info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "null")
    if not info or info.get("kind") != "ExecCredential" or info.get("apiVersion") != args.api_version:
        print(f"KUBERNETES_EXEC_INFO is missing or not an ExecCredential of {args.api_version}", file=sys.stderr)
        return 1
    if args.cert:
        status: dict[str, Any] = {"clientCertificateData": args.cert.read_text(),
                                  "clientKeyData": args.key.read_text()}
        print(json.dumps({"apiVersion": args.api_version, "kind": "ExecCredential", "status": status}))
        return 0
    token, _, expiry_text = args.token_file.read_text().strip().partition(" ")
    status = {"token": token}
    if expiry_text:
        status["expirationTimestamp"] = expiry_text.strip()
    elif args.expires_in is not None:
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=args.expires_in)
        status["expirationTimestamp"] = expiry.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if args.log is not None:
        with args.log.open("a") as log:
            log.write(json.dumps({"token": status["token"], "expires": status.get("expirationTimestamp"),
                                  "interactive": info["spec"].get("interactive"),
                                  "cluster": info["spec"].get("cluster"),
                                  "AWS_PROFILE": os.environ.get("AWS_PROFILE")}) + "\n")
    print(json.dumps({"apiVersion": args.api_version, "kind": "ExecCredential", "status": status}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
