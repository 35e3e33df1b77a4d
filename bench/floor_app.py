"""The cold-start floor: a bare Chalice app that creates one boto3 SSM client and reads one parameter.

The benchmark copies this file as `app.py` into a package of its own, beside Chalice's runtime.
"""
from __future__ import annotations

import os

import boto3
from chalice import Chalice

app = Chalice(app_name="floor")
ssm = boto3.client("ssm")
ssm.get_parameter(Name=os.environ["KEYPIN_KEY_PARAMETER"], WithDecryption=True)


@app.route("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
