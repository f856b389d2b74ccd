"""A stand-in for `python -m llama_cpp.server`, for the embedded model's process handling without a model.

Takes llama_cpp.server's arguments (`--model`, `--model_alias`, `--host`, `--port`, ...) plus `--behave`:
- `serve`: answers `GET /v1/models` with the alias, like the real server once its model is loaded;
- `serve-with-child`: the same, after starting a child process in its group (prints `child-pid: N`);
- `crash`: writes a llama.cpp-like error to stderr and exits with code 1 at once;
- `never-ready`: keeps running and never listens.
Every mode prints `server-pid: N` first.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--model", "--model_alias", "--host", "--n_ctx", "--chat_format"):
        parser.add_argument(name)
    parser.add_argument("--port", type=int)
    parser.add_argument("--behave", default="serve")
    args = parser.parse_args()
    print(f"server-pid: {os.getpid()}", flush=True)
    if args.behave == "crash":
        print(f"gguf_init_from_file: failed to read magic from {args.model}", file=sys.stderr, flush=True)
        print("ValueError: Failed to load model from file", file=sys.stderr, flush=True)
        sys.exit(1)
    if args.behave == "never-ready":
        while True:
            time.sleep(1)
    if args.behave == "serve-with-child":
        child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(1)"])
        print(f"child-pid: {child.pid}", flush=True)

    class Models(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": args.model_alias, "object": "model",
                                                            "owned_by": "me"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer((args.host, args.port), Models).serve_forever()


if __name__ == "__main__":
    main()
