"""Reading and checking images: inside saliencykit an image is always RGB uint8 H x W x 3.

There is one way in. Files go through :func:`read_image` (every CLI command, the audit and the API use it), arrays,
PIL images and torch tensors through :func:`as_image`. Both convert the same way, so the same picture gets the same
pixels (and the same scores) whichever command reads it:

* EXIF orientation is applied (all 8 orientations), as a browser, a photo viewer and the HTML report show the photo;
* grey is repeated into three channels; alpha is dropped without blending, the way torchvision's default loader
  (``PIL.Image.convert("RGB")``) does, because that is how the pictures looked to the model in training;
  palette images are expanded through their palette (transparency dropped the same way);
* 16-bit pixels become 8-bit by ``round(value / 257)`` (65535 -> 255, exact for 8-bit data stored as 16-bit);
* CMYK JPEGs are converted to RGB by the decoder.

Files are checked before they are decoded: the pixel count is read from the header and refused above
``max_pixels`` (a decompression bomb costs nothing), and a JPEG whose data is corrupt or cut short is an error
instead of a half-grey picture that would count as a model mistake.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageError
from .stderr import captured_stderr

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")

DEFAULT_MAX_PIXELS = 120_000_000
"""Largest decoded image (width x height) read by default: 120 megapixels.

Above every phone and nearly every camera (a 102-megapixel medium-format frame still passes), yet a decoded
picture at the limit is 360 MB as RGB uint8, which the explanation steps can afford. Raise it with
``max_pixels=`` (CLI ``--max-pixels``) or the environment variable ``SALIENCYKIT_MAX_PIXELS``.
"""
MAX_PIXELS_ENV = "SALIENCYKIT_MAX_PIXELS"
MAX_ASPECT_RATIO = 100
"""Longest side over shortest side: beyond 100:1 the picture is a strip no classifier input can show."""

_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "BMP": "BMP", "TIFF": "TIFF", "WEBP": "WebP", "GIF": "GIF"}
_SUPPORTED = "JPEG, PNG, BMP, TIFF, WebP, GIF"
# libjpeg's warnings (JWRN_*): each means the picture decoded from damaged data.
_JPEG_DAMAGE = re.compile(
    r"Corrupt JPEG data|Premature end of JPEG|Invalid SOS|Huffman|must resync|Inconsistent progression|"
    r"Arithmetic table|Bogus|JPEG datastream contains no image",
    re.IGNORECASE,
)
# What image codecs print on stderr: swallowed (reported in our message when the file fails) rather than shown.
_CODEC_LINE = re.compile(r"^(\[ ?(WARN|ERROR|INFO)|libpng|libtiff|TIFF|Corrupt|Premature|Invalid|Warning|JPEG|Bogus)")
_DECODE_LOCK = threading.Lock()


# ----------------------------------------------------------------------------------------------- files


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: ``max_pixels`` if given, else ``$SALIENCYKIT_MAX_PIXELS``, else the default."""
    source = "max_pixels"
    if max_pixels is None:
        text = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
        if not text:
            return DEFAULT_MAX_PIXELS
        source = f"the environment variable {MAX_PIXELS_ENV}"
        try:
            max_pixels = int(float(text))
        except ValueError:
            raise ImageError(f"{source} is {text!r}; set it to a number of pixels such as 200000000.") from None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ImageError(f"{source} must be a positive number of pixels, got {max_pixels!r}.")
    return int(max_pixels)


def read_image(
    path: str | Path, convert: bool | None = None, *, max_pixels: int | None = None, allow_partial: bool = False
) -> np.ndarray:
    """Read an image file as RGB uint8 H x W x 3, the same way for every command (see the module docstring).

    ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`, or ``$SALIENCYKIT_MAX_PIXELS``) refuses larger images before
    decoding them. ``allow_partial=True`` accepts a JPEG whose data is damaged or cut short when the decoder can
    still give a picture (it fills what it cannot read); by default such a file is an :class:`ImageError`.
    ``convert`` is accepted for backward compatibility and ignored: grey, alpha, palette and 16-bit files are always
    converted now.
    """
    del convert  # conversion is always on: one reader, one result
    data = read_image_bytes(path, max_pixels=max_pixels)
    return decode_image(data, str(path), max_pixels=max_pixels, allow_partial=allow_partial)


def regular_file_size(path: Path, error: type[Exception], what: str, give: str) -> int:
    """The size of ``path``; ``error`` naming ``what`` it should be when it is a folder, pipe or device.

    Checked before reading because a pipe or device would be read forever. ``OSError`` (no such file, permission
    denied) passes through for the caller's message.
    """
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: a folder, not {what}.")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: not a regular file (a pipe or device?); give {give}.")
    return info.st_size


def read_image_bytes(path: str | Path, *, max_pixels: int | None = None) -> bytes:
    """The bytes of an image file, with one clear :class:`ImageError` for each way reading it can fail."""
    path = Path(path)
    limit = max_pixels_limit(max_pixels)
    try:
        size = regular_file_size(path, ImageError, "an image file", "an image file")
        # No image format needs more than 8 bytes a pixel (16-bit RGBA, uncompressed) plus its metadata.
        if size > 8 * limit + (64 << 20):
            raise ImageError(
                f"{path}: a {size / 1e9:.1f} GB file, more than any image within the limit of {limit:,} pixels "
                "holds. Check that it is an image, or raise the limit (max_pixels=, CLI --max-pixels)."
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file (or a broken link). Check the path.") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: a folder, not an image file.") from None
    except PermissionError:
        raise ImageError(f"{path}: cannot be read (permission denied). Check its permissions.") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror or exc}). Check the file and its disk.") from None
    if not data:
        raise ImageError(f"{path}: empty file (0 bytes); it holds no image.")
    return data


def decode_image(data: bytes, name: str, *, max_pixels: int | None = None, allow_partial: bool = False) -> np.ndarray:
    """Decode the bytes of an image file (named ``name`` in messages) as RGB uint8 H x W x 3.

    The header is read first (Pillow, lazily) to check the format, the size and the EXIF orientation; the pixels
    are decoded by OpenCV with the codecs' messages captured, so that a damaged JPEG is an error with the reason.
    """
    limit = max_pixels_limit(max_pixels)
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes); it holds no image.")
    kind, width, height, orientation = _header(data, name)
    if width < 1 or height < 1:
        raise ImageError(f"{name}: the header says the image is {width} x {height} pixels: it has no pixels.")
    if width * height > limit:
        raise ImageError(
            f"{name}: {width} x {height} pixels ({width * height / 1e6:.0f} megapixels) is more than the limit of "
            f"{limit / 1e6:g} megapixels; it was not decoded. Shrink the image, or raise the limit with "
            f"max_pixels= (CLI --max-pixels, or the environment variable {MAX_PIXELS_ENV})."
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageError(
            f"{name}: {width} x {height} pixels is a strip (more than {MAX_ASPECT_RATIO}:1), not a picture a model "
            "can be explained on. Crop it into pictures first."
        )
    if kind == "JPEG" and not allow_partial and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise ImageError(
            f"{name}: truncated JPEG (the image data stops before its end marker). Copy the file again, or accept "
            "partial pictures with allow_partial=True (CLI --allow-partial)."
        )
    if kind == "JPEG" and allow_partial and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        data += b"\xff\xd9"  # close the cut-off data so the decoder returns the part it has (rest filled grey)
    with _codec_messages() as messages:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        reason = _reason(messages)
        raise ImageError(
            f"{name}: not a readable image (the {kind} data is corrupt or truncated{reason}). "
            f"Supported formats: {_SUPPORTED}."
        )
    damage = [m for m in messages if _JPEG_DAMAGE.search(m)] if kind == "JPEG" else []
    if damage and not allow_partial:
        raise ImageError(
            f"{name}: corrupt JPEG data ({_damage_text(damage[0])}): part of the picture would be garbage. "
            "Replace the file, or accept damaged files with allow_partial=True (CLI --allow-partial)."
        )
    image = _to_rgb(pixels, name, bgr=True)
    if kind != "TIFF":  # OpenCV's TIFF decoder applies the orientation tag itself
        image = _orient(image, orientation)
    return _checked(np.ascontiguousarray(image), name)


def _header(data: bytes, name: str) -> tuple[str, int, int, int]:
    """Format, width, height and EXIF orientation from the file header, without decoding the pixels."""
    with _DECODE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's bomb warning and "corrupt EXIF" notes: we decide here
        try:
            try:
                image = Image.open(io.BytesIO(data))
            except Image.DecompressionBombError:  # Pillow's own limit; ours (checked by the caller) applies
                saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # opening is lazy: no pixels decoded
                try:
                    image = Image.open(io.BytesIO(data))
                finally:
                    Image.MAX_IMAGE_PIXELS = saved
            with image:
                kind = _FORMATS.get(image.format or "")
                if kind is None:
                    raise ImageError(
                        f"{name}: a {image.format} image; saliencykit reads {_SUPPORTED}. Convert it to PNG first."
                    )
                width, height = image.size
                orientation = _exif_orientation(image.info.get("exif"))
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not a readable image ({_unidentified(data)}).") from None
        except ImageError:
            raise
        except Exception as exc:  # Pillow's header parsers raise many types on damaged headers
            raise ImageError(f"{name}: not a readable image ({_unidentified(data)}: {exc}).") from None
    return kind, width, height, orientation


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _unidentified(data: bytes) -> str:
    """Why no header parser took the file: a known format with a broken header, or another kind of file."""
    kind = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "WebP"
    if kind == "PNG" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if width == 0 or height == 0:
            return f"the header says the image is {width} x {height} pixels: it has no pixels"
    if kind:
        return f"a {kind} file whose header is damaged or cut short"
    return f"not a {_SUPPORTED} file: truncated, or another kind of file"


def _exif_orientation(exif: bytes | None) -> int:
    """The orientation tag (1..8) of an EXIF block, 1 when there is none or it is damaged (browsers do the same).

    Read from the block the header parser found, never through ``Image.getexif()``, which decodes a whole PNG.
    """
    if not exif:
        return 1
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        orientation = int(parsed.get(0x0112, 1))
    except Exception:
        return 1
    return orientation if 1 <= orientation <= 8 else 1


@contextlib.contextmanager
def _codec_messages() -> Iterator[list[str]]:
    """Collect what the C codecs print on file descriptor 2 (libjpeg's warnings) instead of showing it.

    libjpeg reports damaged data only as a warning line on stderr; capturing it is how a corrupt JPEG becomes an
    error. Lines that are not codec messages (another thread printing meanwhile) are passed on to stderr.
    """
    messages: list[str] = []
    with captured_stderr() as output:
        yield messages
    passed_on = []
    for line in "".join(output).splitlines(keepends=True):
        if _CODEC_LINE.match(line.strip()):
            messages.append(line.strip())
        elif line.strip():
            passed_on.append(line)  # exactly as written: progress bars end lines with \r, not \n
    if passed_on:
        os.write(2, "".join(passed_on).encode())


def _damage_text(line: str) -> str:
    text = re.sub(r"^Corrupt JPEG data:\s*", "", line.strip(), flags=re.IGNORECASE)
    return text.rstrip(".")


def _reason(messages: list[str]) -> str:
    for line in reversed(messages):
        text = re.sub(r"^\[.*?\]\s*(global\s+\S+\s+)?(\S+\s+)?", "", line.strip()).strip()
        text = re.sub(r"OpenCV\([^)]*\)\s*\S+:\s*\d+:\s*", "", text)
        if text:
            return ": " + text[:200]
    return ""


_ORIENTATIONS = {
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),  # transposed
    6: lambda a: np.rot90(a, -1),  # rotated 90 clockwise to show
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # transversed
    8: lambda a: np.rot90(a, 1),  # rotated 90 counter-clockwise to show
}


def _orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to stored pixels, giving the picture as it is meant to be seen."""
    turn = _ORIENTATIONS.get(orientation)
    return turn(image) if turn else image


# ----------------------------------------------------------------------------------------- conversion


def _to_rgb(pixels: np.ndarray, name: str, bgr: bool) -> np.ndarray:
    """Grey, grey+alpha, RGB(A)/BGR(A), 8- or 16-bit pixels -> RGB uint8 (the one conversion rule)."""
    if pixels.dtype == np.uint16:
        pixels = np.round(pixels / 257.0).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        raise ImageError(
            f"{name}: {pixels.dtype} pixels (e.g. a floating-point TIFF); saliencykit reads 8- and 16-bit images. "
            "Save it as an 8-bit PNG or JPEG."
        )
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    if pixels.ndim == 3 and pixels.shape[2] == 2:  # grey + alpha
        return np.repeat(pixels[..., :1], 3, axis=2)
    if bgr and pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.flags.c_contiguous and pixels.flags.writeable:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB, dst=pixels)  # in place: a decoded photo is not copied
    if pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        return pixels[..., 2::-1] if bgr else pixels[..., :3]
    raise ImageError(f"{name}: pixels of shape {pixels.shape} are not an image (expected 1 to 4 channels).")


def _checked(image: np.ndarray, name: str) -> np.ndarray:
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ImageError(
            f"{name}: image of {image.shape[1]} x {image.shape[0]} pixels is too small to explain (at least 2 x 2)."
        )
    return image


def _is_torch(obj: object) -> bool:
    return type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "detach")


def _from_pil(image: Image.Image, name: str) -> np.ndarray:
    """A PIL image's pixels in the file conversion (its EXIF orientation applied, like :func:`read_image`)."""
    try:  # an image in memory (loaded, or made by the user) has its EXIF at hand: getexif() costs nothing here
        orientation = int(image.getexif().get(0x0112, 1))
    except Exception:
        orientation = 1
    mode = image.mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "palette images with transparency": dropped on purpose, see module doc
        if mode == "RGB":
            pixels = np.asarray(image)
        elif mode in ("1", "L"):
            pixels = _to_rgb(np.asarray(image.convert("L")), name, bgr=False)
        elif mode.startswith("I"):
            pixels = np.asarray(image)
            if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
                raise ImageError(
                    f"{name}: PIL image of mode {mode} with values {pixels.min()}..{pixels.max()}, outside 16-bit "
                    "pixels. Convert it to mode 'RGB' (or 'L') first."
                )
            pixels = _to_rgb(pixels.astype(np.uint16), name, bgr=False)
        elif mode == "F":
            return as_image(np.asarray(image), name)  # floats follow the array rules
        else:  # LA, RGBA, P, PA, CMYK, YCbCr, LAB, HSV, ...
            try:
                pixels = np.asarray(image.convert("RGB"))
            except (ValueError, OSError) as exc:
                raise ImageError(f"{name}: PIL image of mode {mode} cannot be converted to RGB ({exc}).") from None
    return _orient(pixels, orientation if 1 <= orientation <= 8 else 1)


def _from_torch(tensor: object, name: str) -> np.ndarray:
    """A torch tensor as a numpy array: H x W x C, or C x H x W when the rule in :func:`as_image` says so."""
    t = tensor.detach().cpu()  # type: ignore[attr-defined]
    if t.is_floating_point():  # float16 / bfloat16 have no numpy counterpart
        t = t.float()
    pixels = t.numpy()
    if pixels.ndim == 3 and pixels.shape[0] in (1, 3) and pixels.shape[2] not in (1, 2, 3, 4):
        pixels = pixels.transpose(1, 2, 0)
    return pixels


def as_image(image: object, name: str = "image") -> np.ndarray:
    """One image object as RGB uint8 H x W x 3, accepting what is unambiguous and refusing the rest clearly.

    Accepted, and converted like files (:func:`read_image`):

    * numpy arrays H x W x 3 (RGB), grey H x W or H x W x 1, grey+alpha H x W x 2 and RGBA H x W x 4, uint8;
    * float arrays with every value in [0, 1] (as torchvision's ``ToTensor`` makes them): scaled by 255, rounded;
    * PIL images of any mode (EXIF orientation applied, like files);
    * torch tensors, the same as their numpy arrays; a 3-D tensor whose first dimension is 1 or 3 and whose last
      dimension is not 1 to 4 is channels-first (C x H x W, torchvision's layout) and is transposed.

    Refused with a message saying what to do: float values above 1 (ambiguous: 0..255 data or a scaled picture?),
    values outside 0..255, NaN/Inf, other integer types (e.g. 16-bit arrays), bool and object arrays, empty or
    smaller than 2 x 2 images, channels-first numpy arrays, and batches (pass a list of images to the callers
    that take several). The result is C-contiguous; an RGB uint8 H x W x 3 array that already is comes back as it
    is, without a copy.

    >>> as_image(np.zeros((4, 5), np.uint8)).shape
    (4, 5, 3)
    """
    if isinstance(image, Image.Image):
        return _checked(np.ascontiguousarray(_from_pil(image, name)), name)
    if _is_torch(image):
        image = _from_torch(image, name)
    if not isinstance(image, np.ndarray):
        raise ImageError(
            f"{name}: expected an image (numpy array H x W x 3 uint8, PIL image or torch tensor), got "
            f"{type(image).__name__}. Read files with saliencykit.read_image(path)."
        )
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 and min(image.shape[:2]) >= 2:
        return image if image.flags.c_contiguous else np.ascontiguousarray(image)
    return _checked(np.ascontiguousarray(_array_to_rgb(image, name)), name)


def _array_to_rgb(image: np.ndarray, name: str) -> np.ndarray:
    shape = tuple(image.shape)
    if image.ndim == 4:
        raise ImageError(
            f"{name}: a batch of {shape[0]} images (shape {shape}); pass one image H x W x 3, or a list of images."
        )
    if image.ndim not in (2, 3):
        raise ImageError(f"{name}: an array of shape {shape} is not an image; expected H x W x 3.")
    if image.size == 0:
        raise ImageError(f"{name}: an empty array of shape {shape}; it has no pixels.")
    if image.ndim == 3 and shape[0] in (1, 3) and shape[2] not in (1, 2, 3, 4):
        raise ImageError(
            f"{name}: shape {shape} looks channels-first (C x H x W); saliencykit expects H x W x C. "
            "Transpose it with image.transpose(1, 2, 0)."
        )
    if image.ndim == 3 and shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"{name}: {shape[2]} channels (shape {shape}); expected 3 (RGB), 1 (grey) or 4 (RGBA).")
    kind = image.dtype.kind
    if kind == "b":
        raise ImageError(
            f"{name}: a bool array (a mask?), not an image. If it is a black/white picture use "
            "image.astype(np.uint8) * 255."
        )
    if kind == "f":
        return _to_rgb(_float_pixels(image, name), name, bgr=False)
    if kind in "iu" and image.dtype != np.uint8:
        low, high = int(image.min()), int(image.max())
        if image.dtype == np.uint16:
            hint = "16-bit pixels: convert them with np.round(image / 257).astype(np.uint8)"
        elif low >= 0 and high <= 255:
            hint = "the values are 0..255 pixels: convert them with image.astype(np.uint8)"
        else:
            hint = f"the values run from {low} to {high}, so they are not 0..255 pixels; scale them to 0..255 first"
        raise ImageError(f"{name}: dtype {image.dtype}; saliencykit expects uint8 pixels ({hint}).")
    if kind != "u":
        raise ImageError(f"{name}: an array of dtype {image.dtype}, not pixels; expected uint8 H x W x 3.")
    return _to_rgb(image, name, bgr=False)


def _float_pixels(image: np.ndarray, name: str) -> np.ndarray:
    """Float pixels in [0, 1] -> uint8 (times 255, rounded); anything else is refused with what to do."""
    finite = np.isfinite(image)
    if not finite.all():
        bad = int(image.size - np.count_nonzero(finite))
        raise ImageError(f"{name}: {bad} pixel value(s) are NaN or infinite; fix the computation that made the image.")
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 255:
        raise ImageError(
            f"{name}: float pixels from {low:g} to {high:g} are outside both 0..1 and 0..255 (a normalised model "
            "input?). Undo the normalisation (x * std + mean) to get 0..255 pixels, then image.astype(np.uint8)."
        )
    if high > 1:
        raise ImageError(
            f"{name}: float pixels from {low:g} to {high:g}: ambiguous. If they are 0..255 values, convert them with "
            "np.round(image).astype(np.uint8); float images are read as 0..1 values (scaled by 255)."
        )
    return np.round(image.astype(np.float64) * 255.0).astype(np.uint8)


def as_images(images: object, name: str = "image") -> tuple[list[np.ndarray], bool]:
    """One image or several -> (their RGB uint8 arrays, whether a single image was given).

    For the callers that take either (explainers, detectors): a list or tuple holds several images, and so does a
    4-D array or tensor (a batch, N first); anything else is one image and goes through :func:`as_image` (so a PIL
    image or a grey array is one image). Messages name ``image`` or ``image 3``.
    """
    if isinstance(images, (list, tuple)) or getattr(images, "ndim", None) == 4:
        items = list(images)  # type: ignore[call-overload]
        if not items:
            raise ImageError(f"{name}s: an empty list; give at least one image.")
        return [as_image(image, f"{name} {i}") for i, image in enumerate(items)], False
    return [as_image(images, name)], True


def check_image(image: object, name: str = "image") -> np.ndarray:
    """The image as RGB uint8 H x W x 3 (:func:`as_image`), or an :class:`ImageError` naming ``name``.

    Kept under this name because many modules call it; use the returned array, which may be a converted copy.
    """
    return as_image(image, name)


def to_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Deprecated alias of :func:`as_image` (conversion is always on now)."""
    return as_image(image, name)
