"""Cloud Storage plumbing: ``gs://`` paths go through Beam's ``GCSFileSystem``
(the google-cloud-storage client underneath); this module only decides *which*
Cloud Storage to talk to.

With ``STORAGE_EMULATOR_HOST`` set (``http://127.0.0.1:9023``: a local
``gcp-storage-emulator`` or ``fake-gcs-server``), the client sends every call
there with anonymous credentials. Beam would still look for Google credentials
first (``google.auth.default()`` with retries and a metadata-server probe: tens
of seconds without network); :func:`configure_emulator` tells Beam's credential
cache that there are none, so the anonymous client is used at once. Without the
variable nothing changes: Application Default Credentials, as usual.
"""

from __future__ import annotations

import os

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def emulator_host() -> str | None:
    """The emulator endpoint from the environment, or None for the real service."""
    return os.environ.get(EMULATOR_ENV) or None


def configure_emulator() -> bool:
    """When an emulator is configured, make Beam's GCS client anonymous (no
    credential probing); return whether an emulator is in use. Idempotent; call
    it in every process that touches ``gs://`` (launcher and workers)."""
    if not emulator_host():
        return False
    try:
        from apache_beam.internal.gcp import auth
    except ImportError:  # Beam without the gcp extra: gs:// is unavailable anyway
        return True
    # Beam caches the outcome of its credential lookup per process; "looked up,
    # found none" makes gcsio.create_storage_client build the anonymous client,
    # which honours STORAGE_EMULATOR_HOST. Private API of Beam 2.77, checked here
    # so a Beam upgrade that renames it fails loudly in tests/pipeline/test_gcs.py.
    creds = auth._Credentials  # noqa: SLF001
    with creds._credentials_lock:  # noqa: SLF001
        creds._credentials = None  # noqa: SLF001
        creds._credentials_init = True  # noqa: SLF001
    return True
