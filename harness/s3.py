"""A real S3 server on 127.0.0.1 (moto's server mode) for tests and benchmarks, and DVC remotes
on it.

    with MotoS3() as s3:
        url = s3.bucket("lenet-remote")  # s3://lenet-remote
        s3.add_dvc_remote(project, url)  # in project/.dvc/config.local, credentials included

Credentials are moto's dummies; they go into `.dvc/config.local` (never committed) or the
environment (`s3.env`), as a user's real ones would.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

ACCESS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


class MotoS3:
    """moto's ThreadedMotoServer on a free loopback port, for the life of the `with` block."""

    def __enter__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.env = {**ACCESS, "AWS_ENDPOINT_URL": self.endpoint}
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def bucket(self, name: str) -> str:
        """Create bucket `name` (if new); returns its s3:// URL."""
        client = self.client()
        if name not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
            client.create_bucket(Bucket=name)
        return f"s3://{name}"

    def add_dvc_remote(self, project: Path, url: str, name: str = "shared") -> None:
        """`url` as `project`'s default DVC remote, endpoint and credentials in
        .dvc/config.local: what `dvc remote add --local -f -d` and three `dvc remote modify
        --local` write, through the configuration API they use (one process, not four)."""
        from dvc.config import Config

        with Config(dvc_dir=str(project / ".dvc")).edit("local") as local:
            local["core"]["remote"] = name
            local["remote"][name] = {
                "url": url,
                "endpointurl": self.endpoint,
                "access_key_id": ACCESS["AWS_ACCESS_KEY_ID"],
                "secret_access_key": ACCESS["AWS_SECRET_ACCESS_KEY"],
            }

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object in `bucket`: key -> content."""
        client = self.client()
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])]
        return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def corrupt_objects(objects: dict[str, bytes]) -> list[str]:
    """Keys of DVC's content-addressed files (files/md5/ab/cdef...) whose content does not hash to
    the key: a partial or damaged upload. Directory listings (.dir) hash the same way."""
    bad = []
    for key, content in objects.items():
        parts = key.split("/")
        if len(parts) >= 3 and parts[-3] == "md5":
            expected = (parts[-2] + parts[-1]).removesuffix(".dir")
            if hashlib.md5(content).hexdigest() != expected:
                bad.append(key)
    return bad
