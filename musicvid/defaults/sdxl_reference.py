"""Reference pictures for the SDXL stage: IP-Adapter, with img2img as the fallback.

The user's pictures of the subject (``reference``) steer every keyframe through an
IP-Adapter (``h94/IP-Adapter``: ``sdxl_models/ip-adapter_sdxl.safetensors`` and its image
encoder in ``sdxl_models/image_encoder``, Apache-2.0), loaded with diffusers'
``load_ip_adapter`` into a pipeline of its own (the LRU keeps adapter and plain
pipelines apart). Each reference is encoded once; with several, each adds its image
tokens to every shot. Where the adapter cannot load, keyframes start from the first
reference with image-to-image instead, and the cache key says which was used.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cache import file_sha256
from ..errors import InvalidOptionError, ModelLoadError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["IMAGE_ENCODER_FOLDER", "IP_ADAPTER_SUBFOLDER", "IP_ADAPTER_WEIGHTS",
           "AdapterLoadError", "attach_ip_adapter", "check_references", "load_references",
           "reference_digests", "reference_embeds"]

log = logging.getLogger(__name__)

IP_ADAPTER_SUBFOLDER = "sdxl_models"
IP_ADAPTER_WEIGHTS = "ip-adapter_sdxl.safetensors"
IMAGE_ENCODER_FOLDER = "image_encoder"

_DIGESTS: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


class AdapterLoadError(ModelLoadError):
    """The IP-Adapter (not the SDXL model) could not be loaded."""


def reference_digests(paths: Sequence[Path]) -> list[str]:
    """The SHA-256 of each reference picture's bytes (memoised by path, size and mtime)."""
    out = []
    for p in paths:
        p = Path(p)
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        with _LOCK:
            digest = _DIGESTS.get(key)
        if digest is None:
            digest = file_sha256(p)
            with _LOCK:
                _DIGESTS[key] = digest
        out.append(digest)
    return out


def check_references(paths: Sequence[Path]) -> None:
    """Every reference exists and decodes as a picture, or :class:`InvalidOptionError`."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise InvalidOptionError("reference", str(p), hint="a picture file that exists")
        try:
            with PILImage.open(p) as im:
                im.verify()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
            raise InvalidOptionError("reference", str(p),
                                     hint="a picture PIL can read (PNG, JPEG, WebP...)") from None


def load_references(paths: Sequence[Path]) -> list[Image.Image]:
    from PIL import Image as PILImage
    from PIL import ImageOps

    images = []
    for p in paths:
        with PILImage.open(p) as im:
            images.append(ImageOps.exif_transpose(im).convert("RGB"))
    return images


def attach_ip_adapter(pipe: Any, model: str) -> None:
    """Load the SDXL IP-Adapter ``model`` (hub id or folder) into ``pipe``."""
    try:
        pipe.load_ip_adapter(model, subfolder=IP_ADAPTER_SUBFOLDER,
                             weight_name=IP_ADAPTER_WEIGHTS,
                             image_encoder_folder=IMAGE_ENCODER_FOLDER)
    except Exception as exc:  # hub, file system, shape and config errors all land here
        raise AdapterLoadError(
            f"could not load the IP-Adapter {model!r} ({type(exc).__name__}: {exc}); it "
            f"needs {IP_ADAPTER_SUBFOLDER}/{IP_ADAPTER_WEIGHTS} and "
            f"{IP_ADAPTER_SUBFOLDER}/{IMAGE_ENCODER_FOLDER}/ (point --ip-adapter-model or "
            "MUSICVID_IP_ADAPTER at a local copy, or connect once to download it)",
            stage="keyframes", plugin="sdxl") from exc


def reference_embeds(pipe: Any, images: Sequence[Image.Image], batch: int, cfg: bool,
                     key: tuple[str, ...]) -> Any:
    """``ip_adapter_image_embeds`` for a batch of ``batch`` shots: every reference's image
    embedding for each shot (negative ones first under classifier-free guidance)."""
    torch = __import__("torch")
    cache = getattr(pipe, "_musicvid_ref_embeds", None)
    if cache is None or cache[0] != key:
        device = pipe._execution_device
        with torch.inference_mode():
            pos, _ = pipe.encode_image(list(images), device, 1, False)  # (n, dim)
        cache = (key, pos)
        pipe._musicvid_ref_embeds = cache
    pos = cache[1]
    pos = pos[None].expand(batch, *pos.shape)  # (batch, n references, dim)
    if cfg:
        return torch.cat([torch.zeros_like(pos), pos])
    return pos
