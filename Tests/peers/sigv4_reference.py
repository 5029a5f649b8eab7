#!/usr/bin/env python3
"""Signs requests with botocore's SigV4Auth, as the reference clawc's own SigV4 is tested against.

Reads a JSON list on stdin; each item: method, url, headers (object), body (base64), accessKey, secretKey,
sessionToken (or null), region, service, timestamp ("YYYYMMDDTHHMMSSZ"). Writes a JSON list of the
Authorization header botocore computes for each, in order.
"""
import base64
import datetime
import json
import sys

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(item):
    when = datetime.datetime.strptime(item["timestamp"], "%Y%m%dT%H%M%SZ")
    botocore.auth.get_current_datetime = lambda *args, **kwargs: when
    request = AWSRequest(
        method=item["method"], url=item["url"], headers=dict(item["headers"]), data=base64.b64decode(item["body"])
    )
    credentials = Credentials(item["accessKey"], item["secretKey"], item.get("sessionToken"))
    botocore.auth.SigV4Auth(credentials, item["service"], item["region"]).add_auth(request)
    return request.headers["Authorization"]


if __name__ == "__main__":
    json.dump([sign(item) for item in json.load(sys.stdin)], sys.stdout)
