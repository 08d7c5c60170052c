"""Benchmark: an image GET through the HAProxy sidecar vs straight to the S3 endpoint.

LocalStack's S3 (signature checking on) and HAProxy with ``haproxy/haproxy.cfg``, on loopback.
The same presigned URLs are fetched both ways, interleaved, over keep-alive connections.
Prints one summary line ``proxy: key=value ...``. Run with
``.venv/bin/python -m bench.s3_proxy --requests 1000 --size 65536``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import requests

from bench.common import percentile
from bench.common import report
from bench.common import scaled
from labelhive.storage import s3
from tests.common.haproxy import haproxy
from tests.common.processes import free_port
from tests.common.s3 import localstack_s3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=scaled(1000, 50))
    parser.add_argument("--size", type=int, default=64 * 1024, help="image bytes")
    args = parser.parse_args()
    with localstack_s3() as server:
        client = server.client()
        client.create_bucket(Bucket="bench")
        body = os.urandom(args.size)
        client.put_object(Bucket="bench", Key="img/a b.jpg", Body=body, ContentType="image/jpeg")
        config = {"S3_ENDPOINT_URL": server.endpoint_url, "S3_PROXY_PREFIX": "/s3"}
        # no app behind it: only the S3 route is measured
        with haproxy(config, free_port()) as proxy:
            direct_s, proxied_s = requests.Session(), requests.Session()
            direct, proxied = [], []
            for i in range(args.requests + 20):
                url = s3.presign_get("bench", "img/a b.jpg", ttl=300, s3=client)
                via = proxy.url + s3.to_proxy_path(url, "bench", "/s3")
                pairs = [(direct_s, url, direct), (proxied_s, via, proxied)]
                for session, target, out in pairs if i % 2 else pairs[::-1]:
                    t0 = time.perf_counter()
                    response = session.get(target, timeout=10)
                    elapsed = time.perf_counter() - t0
                    assert response.status_code == 200 and response.content == body
                    if i >= 20:  # warm-up
                        out.append(elapsed * 1000)
    p50d, p50p = statistics.median(direct), statistics.median(proxied)
    report(
        "proxy",
        {
            "requests": args.requests,
            "size": args.size,
            "direct_p50_ms": p50d,
            "direct_p95_ms": percentile(direct, 0.95),
            "direct_p99_ms": percentile(direct, 0.99),
            "proxy_p50_ms": p50p,
            "proxy_p95_ms": percentile(proxied, 0.95),
            "proxy_p99_ms": percentile(proxied, 0.99),
            "added_p50_ms": p50p - p50d,
            "ratio_p50": p50p / p50d,
            "ratio_mean": statistics.mean(proxied) / statistics.mean(direct),
        },
    )


if __name__ == "__main__":
    main()
