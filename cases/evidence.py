"""Evidence files: how they are received, named, stored, limited and handed back.

Malicious files are what this product handles, so a file is only ever bytes here: it is
streamed to a temporary file while its SHA-256 and size are computed (never read whole into
memory), stored under a random key of its tenant, and handed back only as a download with a
type no browser renders or sniffs. Nothing is ever unpacked, thumbnailed, parsed or executed.

The limits: EVIDENCE_MAX_BYTES is the MSSP's, and the proxy's body limit on the upload routes
(mssp.serve); a tenant may have a stricter one (cases.models.EvidenceLimit). The handler stops
reading at the MSSP's limit, so no more than that ever reaches the disk; the tenant's is
checked once the tenant is known, and a refused file's temporary copy goes with the request.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import FileResponse, HttpRequest

if TYPE_CHECKING:
    from .models import Attachment

logger = logging.getLogger("mssp.evidence")

NAME_MAX = 200  # characters of the display name kept
FALLBACK_NAME = "evidence"
# Room for the multipart envelope and the form's other fields around the file.
MULTIPART_SLACK = 1024 * 1024
# Unicode categories dropped from a display name: controls (NUL, newlines, escapes), format
# characters (the right-to-left override that turns "gpj.exe" into "exe.jpg", zero-width
# joiners, byte-order marks), surrogates, private use, unassigned, line/paragraph separators.
DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def storage() -> Storage:
    """Where evidence lives: STORAGES["evidence"] (local files under MEDIA_ROOT, or a bucket)."""
    return storages["evidence"]


# --- names -------------------------------------------------------------------------------------


def clean_name(raw: str) -> str:
    """The client's file name as display text: its last path component, without control and
    direction characters, trimmed of dots and spaces, at most NAME_MAX characters with its
    extension kept. Never used to store or find the file."""
    text = unicodedata.normalize("NFC", str(raw or ""))
    text = "".join(c for c in text if unicodedata.category(c) not in DROPPED_CATEGORIES)
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = " ".join(text.split()).strip(" .")
    if len(text) > NAME_MAX:
        stem, dot, extension = text.rpartition(".")
        if dot and stem and 0 < len(extension) <= 16:
            text = stem[: NAME_MAX - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            text = text[:NAME_MAX].rstrip(" .")
    return text or FALLBACK_NAME


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback and the exact name as RFC 6266's `filename*`."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    exact = quote(name, safe="")
    return f"attachment; filename=\"{fallback or FALLBACK_NAME}\"; filename*=UTF-8''{exact}"


# --- receiving ---------------------------------------------------------------------------------


class EvidenceUploadHandler(TemporaryFileUploadHandler):
    """Every uploaded file goes to a temporary file (never memory), hashed and counted as its
    chunks arrive; past `limit` bytes the upload stops (`too_large`) and the partial file is
    dropped with the request."""

    def __init__(self, request: HttpRequest | None = None, *, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.too_large = False
        self._hash = hashlib.sha256()
        self._size = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._hash = hashlib.sha256()
        self._size = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._size += len(raw_data)
        if self._size > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        self._hash.update(raw_data)
        self.file.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> UploadedFile:
        upload = super().file_complete(file_size)
        upload.sha256 = self._hash.hexdigest()  # type: ignore[attr-defined]
        return upload


def sha256_of(upload: UploadedFile) -> str:
    """The hash the upload handler computed as the file arrived; for a file given by code (the
    demo, a fixture), computed now, chunk by chunk."""
    known = getattr(upload, "sha256", None)
    if known:
        return str(known)
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def receive_with_hashing(request: HttpRequest) -> EvidenceUploadHandler:
    """Set before the body is read (so before the CSRF check reads a page's POST)."""
    handler = EvidenceUploadHandler(request, limit=settings.EVIDENCE_MAX_BYTES)
    request.upload_handlers = [handler]
    return handler


def declared_too_large(request: HttpRequest) -> bool:
    """A body declared well above the MSSP's limit is refused before a byte of it is read."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    return declared.isdigit() and int(declared) > settings.EVIDENCE_MAX_BYTES + MULTIPART_SLACK


def too_large_message(limit: int) -> str:
    return f"The file is larger than this customer's evidence limit of {human_size(limit)}."


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def limits(tenant_id: int) -> tuple[int, int]:
    """(bytes per file, files per incident) for this tenant: its own where stricter."""
    from .models import EvidenceLimit

    max_bytes = settings.EVIDENCE_MAX_BYTES
    max_count = settings.EVIDENCE_MAX_PER_INCIDENT
    own = EvidenceLimit.objects.for_tenant(tenant_id).first()
    if own is not None:
        if own.max_bytes is not None:
            max_bytes = min(max_bytes, own.max_bytes)
        if own.max_per_incident is not None:
            max_count = min(max_count, own.max_per_incident)
    return max_bytes, max_count


# --- storing and handing back ------------------------------------------------------------------


def store(tenant_id: int, upload: UploadedFile) -> str:
    """Save the file under a new random key of its tenant (streamed, chunk by chunk)."""
    key = f"evidence/{int(tenant_id)}/{uuid.uuid4()}"
    upload.seek(0)
    saved = storage().save(key, upload)
    if saved != key:  # a storage that renamed it: keep the name it has
        logger.warning("evidence stored as %s instead of %s", saved, key)
    return saved


def remove(key: str) -> None:
    """Remove a stored file; a file already gone is not an error (the row keeps its hash)."""
    try:
        storage().delete(key)
    except Exception:  # the deletion is recorded either way; the operator sees the failure
        logger.exception("could not remove evidence file %s", key)


def remove_tenant_files(tenant_id: int) -> None:
    """Every stored file of a tenant (its evidence/<tenant id>/ prefix), for its deletion."""
    prefix = f"evidence/{int(tenant_id)}"
    try:
        _, files = storage().listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        remove(f"{prefix}/{name}")


MISSING = "The file is missing from the evidence store; its record and hash remain."
UNAVAILABLE = "The evidence store cannot be reached; nothing was stored. Try again shortly."


def download_response(attachment: Attachment) -> FileResponse:
    """The file as a download that nothing renders: octet-stream, nosniff, a sandbox CSP,
    streamed from storage. FileNotFoundError when the store no longer has it."""
    store = storage()
    if not store.exists(attachment.storage_key):  # removed behind the portal's back
        raise FileNotFoundError(attachment.storage_key)
    handle = store.open(attachment.storage_key, "rb")
    response = FileResponse(handle, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition(attachment.name)
    response["Content-Length"] = str(attachment.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["X-Evidence-SHA256"] = attachment.sha256
    return response
