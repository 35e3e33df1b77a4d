"""One keypin container in a fresh interpreter, for the cross-process tests.

Usage: python -m tests.container login USERNAME PASSWORD   (prints the token response)
       python -m tests.container me ACCESS_TOKEN           (prints the /me status and body)
The environment must name a moto server in AWS_ENDPOINT_URL.
"""
from __future__ import annotations

import json
import os
import sys

from chalice.test import Client


def main(argv: list[str]) -> int:
    if not os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1:"):
        print("AWS_ENDPOINT_URL must name a moto server on 127.0.0.1", file=sys.stderr)
        return 2

    import app  # the import is the cold start

    with Client(app.app) as client:
        if argv[0] == "login":
            credentials = json.dumps({"username": argv[1], "password": argv[2]})
            headers = {"Content-Type": "application/json"}
            client.http.post("/auth/register", body=credentials, headers=headers)
            response = client.http.post("/auth/login", body=credentials, headers=headers)
        else:
            response = client.http.get("/me", headers={"Authorization": f"Bearer {argv[1]}"})
    print(json.dumps({"status": response.status_code, "body": response.json_body}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
