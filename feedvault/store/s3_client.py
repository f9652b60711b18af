"""The one place a boto3 S3 client is created.

Retries are explicit (``standard`` mode, ``storage.max_attempts``) and custom endpoints (SeaweedFS, MinIO, ...)
get path-style addressing so bucket names never have to resolve as host names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from feedvault.config import StorageSettings


@dataclass(frozen=True)
class Credentials:
    """Static S3 credentials; the secret and session token never appear in ``repr``."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """The standard AWS environment variables for a subprocess."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


def make_s3_client(storage: StorageSettings, credentials: Credentials | None = None) -> Any:
    """A boto3 S3 client for ``storage``; with ``credentials=None`` boto3's standard chain applies.

    ``storage.endpoint_url`` wins; otherwise boto3 itself honours ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``.
    """
    custom_endpoint = (
        storage.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    config = Config(
        # botocore's own "max_attempts" counts retries only (N+1 requests); "total_max_attempts" counts
        # requests, which is what StorageSettings.max_attempts means.
        retries={"mode": "standard", "total_max_attempts": storage.max_attempts},
        signature_version="s3v4",
        s3={"addressing_style": "path"} if custom_endpoint else None,
        connect_timeout=5,
        read_timeout=60,
        # Since boto3 1.36 every PUT computes and sends a CRC32 trailer by default; several S3-compatible
        # servers reject or mishandle it, and it costs CPU per request. Checksums only where the API needs them.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    keys: dict[str, str | None] = {}
    if credentials is not None:
        keys = {
            "aws_access_key_id": credentials.access_key_id,
            "aws_secret_access_key": credentials.secret_access_key,
            "aws_session_token": credentials.session_token,
        }
    # A session per client: boto3's default session is not thread-safe to create clients from.
    session = boto3.session.Session(**keys)
    return session.client("s3", endpoint_url=storage.endpoint_url, region_name=storage.region, config=config)
