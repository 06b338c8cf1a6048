"""Catalog's problems: the kernel's classes with codes a client can act on.

Titles and details are English msgids translated by the kernel's handler (catalogs in
``api/catalog/locale``). A POC the caller may not see is "not found", exactly like one that
does not exist, so ids of private POCs and of other tenants reveal nothing.
"""

from __future__ import annotations

from typing import Any

from api.common.errors import NotFoundError, PayloadTooLargeError, PermissionDeniedError, ProblemError
from api.common.i18n import N_


class PocNotFoundError(NotFoundError):
    code = "poc-not-found"
    title = N_("POC not found")

    def __init__(self) -> None:
        super().__init__(N_("There is no POC with this id, or it is not visible to you."))


class PocEditForbiddenError(PermissionDeniedError):
    code = "poc-edit-forbidden"
    title = N_("Not allowed to change this POC")

    def __init__(self) -> None:
        super().__init__(N_("Only the POC's owner or an administrator of the tenant can change it."))


class TagNotFoundError(NotFoundError):
    code = "tag-not-found"
    title = N_("Tag not found")

    def __init__(self, tag: str) -> None:
        super().__init__(N_('The POC has no tag "{tag}".'), tag=tag)


class ThumbnailNotFoundError(NotFoundError):
    code = "thumbnail-not-found"
    title = N_("Thumbnail not found")

    def __init__(self) -> None:
        super().__init__(N_("This POC has no thumbnail."))


class UnsupportedImageTypeError(ProblemError):
    status = 415
    code = "unsupported-image-type"
    title = N_("Unsupported image type")

    def __init__(self) -> None:
        super().__init__(
            N_("Send a PNG, JPEG or WebP image; the type is read from the file itself."),
            extra={"acceptedTypes": ["image/png", "image/jpeg", "image/webp"]},
        )


class ImageTooLargeError(PayloadTooLargeError):
    code = "image-too-large"
    title = N_("Image too large")

    def __init__(self, limit_bytes: int) -> None:
        megabytes = limit_bytes // (1024 * 1024)
        super().__init__(
            N_("The image must have at most {megabytes} MB."),
            extra={"maxBytes": limit_bytes},
            megabytes=megabytes,
        )


class InvalidImageError(ProblemError):
    status = 422
    code = "invalid-image"
    title = N_("Invalid image")

    def __init__(self, detail: str, **params: Any) -> None:
        super().__init__(detail, **params)


class FileLinkError(PermissionDeniedError):
    """A file link that was tampered with, has expired, or names no served file."""

    code = "invalid-file-link"
    title = N_("Invalid file link")

    def __init__(self, *, expired: bool = False) -> None:
        super().__init__(
            N_("This file link has expired; ask for the POC again to get a new one.")
            if expired
            else N_("This file link is not valid.")
        )
        if expired:
            self.code = "expired-file-link"
