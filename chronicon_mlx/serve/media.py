"""Where a request's video or images come from: a file under one of the server's media
roots (its real path: no ``..`` or symlink leads out, and only regular files), or a
``data:`` URL upload under the size cap, written to a private temporary folder and removed
after the request. Nothing is fetched from the network."""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .errors import ApiError, bad_request

VIDEO_TYPES = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg",
}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp")
MAX_IMAGE_PIXELS = 40_000_000


@dataclass
class Uploads:
    """A request's uploaded files: removed together when the request ends."""

    folder: Path
    paths: list[Path] = field(default_factory=list)

    def write(self, data: bytes, suffix: str) -> Path:
        """Write an upload to a file of its own (owner-only)."""
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=self.folder)
        path = Path(name)
        self.paths.append(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path

    def remove(self) -> None:
        """Remove every upload of the request."""
        for path in self.paths:
            with contextlib.suppress(OSError):
                path.unlink()
        self.paths.clear()


class Media:
    """The server's rules for a request's media."""

    def __init__(self, roots: list[Path], max_upload_bytes: int, folder: Path) -> None:
        self.roots = [root.expanduser().resolve() for root in roots]
        self.max_upload_bytes = max_upload_bytes
        self.folder = folder

    def uploads(self) -> Uploads:
        """A new request's uploads."""
        return Uploads(self.folder)

    def video(self, url: str, uploads: Uploads, param: str) -> Path:
        """The local file a ``video_url`` names, or its upload written out."""
        if url.startswith("data:"):
            kind, data = self._data(url, param)
            suffix = VIDEO_TYPES.get(kind)
            if suffix is None:
                raise bad_request(
                    f"a video upload must be one of {', '.join(VIDEO_TYPES)}, not '{kind}'",
                    param,
                    "unsupported_media_type",
                )
            return uploads.write(data, suffix)
        return self.local(url, param)

    def image(self, url: str, param: str) -> Any:
        """The RGB pixels (uint8, H x W x 3) of an ``image_url``."""
        from PIL import Image, UnidentifiedImageError

        if url.startswith("data:"):
            kind, data = self._data(url, param)
            if kind not in IMAGE_TYPES:
                raise bad_request(
                    f"an image upload must be one of {', '.join(IMAGE_TYPES)}, not '{kind}'",
                    param,
                    "unsupported_media_type",
                )
            source: Any = io.BytesIO(data)
        else:
            source = self.local(url, param)
        try:
            with Image.open(source) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ApiError(
                        413,
                        f"the image is {width}x{height} pixels, more than the server takes",
                        param=param,
                        code="image_too_large",
                    )
                return _rgb(image)
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ApiError(
                422, f"the image cannot be read: {error}", param=param, code="unreadable_media"
            ) from error

    def local(self, url: str, param: str) -> Path:
        """A ``file://`` URL or a path, as a regular file inside a media root."""
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https", "ftp", "s3", "rtsp", "rtmp"):
            raise bad_request(
                f"the server does not fetch {parsed.scheme} URLs",
                param,
                "remote_media_refused",
            )
        text = unquote(parsed.path) if parsed.scheme == "file" else url
        if parsed.scheme not in ("", "file") and len(parsed.scheme) > 1:
            raise bad_request(f"unsupported URL scheme '{parsed.scheme}'", param)
        if not self.roots:
            raise bad_request(
                "this server takes no file paths (it was started without --media-root); send"
                " the video as a data: URL",
                param,
                "path_not_allowed",
            )
        path = Path(text)
        candidates = [path] if path.is_absolute() else [root / path for root in self.roots]
        for candidate in candidates:
            found = self._inside(candidate)
            if found is not None:
                return found
        raise bad_request(
            f"'{text}' is not a file under the server's media roots",
            param,
            "path_not_allowed",
        )

    def _inside(self, candidate: Path) -> Path | None:
        try:
            real = candidate.resolve(strict=True)
            info = real.stat()
        except (OSError, RuntimeError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        if not any(real.is_relative_to(root) for root in self.roots):
            return None
        return real

    def _data(self, url: str, param: str) -> tuple[str, bytes]:
        head, _, payload = url.partition(",")
        meta = head[len("data:") :].split(";")
        if "base64" not in meta[1:]:
            raise bad_request("a data: URL must be base64-encoded", param)
        if len(payload) * 3 // 4 > self.max_upload_bytes:
            raise ApiError(
                413,
                f"the upload is larger than the server's {self.max_upload_bytes // 2**20} MB",
                param=param,
                code="upload_too_large",
            )
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as error:
            raise bad_request(f"the data: URL is not valid base64 ({error})", param) from error
        return meta[0].strip().lower(), data


def _rgb(image: Any) -> Any:
    import numpy as np

    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
