"""Bad images, files and API objects: each gives one ImageError that names the input and the problem, or is
converted when its meaning is unambiguous. Nothing here may surface an exception from Pillow, OpenCV or numpy."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from saliencykit.audit.dataset import load_image
from saliencykit.errors import ImageError
from saliencykit.images import as_image, as_images, decode_image, read_image

RNG = np.random.default_rng(7)
PHOTO = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b"")


def jpeg_bytes() -> bytes:
    return cv2.imencode(".jpg", PHOTO, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def png_bytes(image: np.ndarray = PHOTO) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def damaged_jpeg() -> bytes:
    data = bytearray(jpeg_bytes())
    start = data.rfind(b"\xff\xda") + 100
    for i in range(start, start + 40):
        data[i] ^= 0x5A
    return bytes(data)


def bad_crc_png() -> bytes:
    data = bytearray(png_bytes())
    data[data.find(b"IDAT") + 20] ^= 0xFF
    return bytes(data)


def file_with(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return make


def pil_file(name: str, image: Image.Image, **options) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        image.save(path, **options)
        return path

    return make


def broken_link(tmp_path: Path) -> Path:
    link = tmp_path / "link.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    return link


def sparse_file(tmp_path: Path) -> Path:
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:
        f.truncate(200 << 20)  # 200 MB on paper, nothing on disk
    return path


JPEG = jpeg_bytes()
CUT = JPEG[: len(JPEG) * 2 // 3]

# (id, make the file, keyword arguments, words the message must contain)
FILE_CASES = [
    ("missing-file", lambda p: p / "missing.jpg", {}, ["missing.jpg", "no such file"]),
    ("broken-symlink", broken_link, {}, ["link.jpg", "no such file"]),
    ("folder", lambda p: p, {}, ["a folder"]),
    ("device-file", lambda p: Path("/dev/zero"), {}, ["/dev/zero", "not a regular file"]),
    ("empty-file", file_with("empty.jpg", b""), {}, ["empty.jpg", "empty file"]),
    ("text-as-jpg", file_with("notes.jpg", b"this is not a picture\n" * 20), {}, ["notes.jpg", "not a readable image"]),
    ("html-as-png", file_with("page.png", b"<!doctype html><html></html>"), {}, ["not a readable image"]),
    ("random-bytes", file_with("noise.png", RNG.bytes(2000)), {}, ["noise.png", "not a readable image"]),
    ("jpeg-cut-in-header", file_with("cut.jpg", JPEG[:300]), {}, ["cut.jpg", "JPEG file whose header is damaged"]),
    ("truncated-jpeg", file_with("cut.jpg", CUT), {}, ["cut.jpg", "truncated JPEG"]),
    (
        "truncated-jpeg-with-end-marker",
        file_with("cut.jpg", CUT + b"\xff\xd9"),
        {},
        ["corrupt JPEG"],
    ),
    ("truncated-png", file_with("cut.png", png_bytes()[:200]), {}, ["cut.png", "not a readable image"]),
    ("corrupt-jpeg-data", file_with("bad.jpg", damaged_jpeg()), {}, ["bad.jpg", "corrupt JPEG data", "allow_partial"]),
    ("png-bad-crc", file_with("crc.png", bad_crc_png()), {}, ["crc.png", "not a readable image"]),
    ("bomb-header", file_with("bomb.png", png_header(30_000, 30_000)), {}, ["30000 x 30000", "max_pixels"]),
    ("over-max-pixels", file_with("x.png", png_bytes()), {"max_pixels": 100}, ["32 x 24", "limit of"]),
    ("max-pixels-zero", file_with("x.png", png_bytes()), {"max_pixels": 0}, ["max_pixels", "positive"]),
    ("max-pixels-text", file_with("x.png", png_bytes()), {"max_pixels": "many"}, ["max_pixels", "positive"]),
    ("strip-aspect-ratio", file_with("strip.png", png_header(30_000, 20)), {}, ["30000 x 20", "strip"]),
    ("zero-height-header", file_with("flat.png", png_header(50, 0)), {}, ["flat.png", "50 x 0", "no pixels"]),
    ("png-header-cut", file_with("cut.png", png_bytes()[:20]), {}, ["cut.png", "PNG file whose header is damaged"]),
    ("one-pixel", pil_file("dot.png", Image.new("RGB", (1, 1))), {}, ["dot.png", "too small"]),
    ("unsupported-format-ppm", pil_file("x.ppm", Image.fromarray(PHOTO)), {}, ["PPM", "saliencykit reads"]),
    ("float-tiff", pil_file("f.tif", Image.fromarray(PHOTO[..., 0].astype(np.float32))), {}, ["float32", "8-bit"]),
    ("file-too-big-for-limit", sparse_file, {"max_pixels": 1000}, ["huge.png", "GB file", "--max-pixels"]),
]


@pytest.mark.parametrize(("make", "options", "words"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_image_files(tmp_path, capfd, make, options, words):
    path = make(tmp_path)
    for read in (read_image, lambda p, **o: load_image(p, **o)[0]):
        with pytest.raises(ImageError) as info:
            read(path, **options)
        for word in words:
            assert word in str(info.value), str(info.value)
    assert capfd.readouterr().err == ""  # no codec lines leak onto the terminal


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    path = file_with("secret.png", png_bytes())(tmp_path)
    path.chmod(0)
    with pytest.raises(ImageError, match="permission denied"):
        read_image(path)


def test_bad_environment_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCYKIT_MAX_PIXELS", "-5")
    with pytest.raises(ImageError, match="SALIENCYKIT_MAX_PIXELS.*positive"):
        decode_image(png_bytes(), "x.png")


def _torch():
    return pytest.importorskip("torch")


# (id, make the object, words the message must contain)
OBJECT_CASES = [
    ("none", lambda: None, ["NoneType", "expected an image"]),
    ("path-string", lambda: "photo.jpg", ["str", "read_image(path)"]),
    ("nested-list", lambda: [[1, 2, 3]], ["list", "expected an image"]),
    ("batch-4d", lambda: np.zeros((2, 8, 8, 3), np.uint8), ["batch of 2 images", "list of images"]),
    ("one-dimensional", lambda: np.zeros(12, np.uint8), ["(12,)", "not an image"]),
    ("empty-array", lambda: np.zeros((0, 0, 3), np.uint8), ["empty", "no pixels"]),
    ("one-pixel", lambda: np.zeros((1, 1, 3), np.uint8), ["too small"]),
    ("five-channels", lambda: np.zeros((8, 8, 5), np.uint8), ["5 channels"]),
    ("channels-first-numpy", lambda: np.zeros((3, 16, 16), np.uint8), ["channels-first", "transpose(1, 2, 0)"]),
    ("bool-mask", lambda: np.ones((8, 8), bool), ["bool", "astype(np.uint8) * 255"]),
    ("object-array", lambda: np.empty((8, 8, 3), object), ["dtype object"]),
    ("complex-array", lambda: np.zeros((8, 8, 3), np.complex64), ["dtype complex64"]),
    ("nan-pixels", lambda: np.full((8, 8, 3), np.nan, np.float32), ["192 pixel value(s)", "NaN"]),
    ("inf-pixel", lambda: np.where(np.eye(8)[..., None] > 0, np.inf, 0.5).repeat(3, 2), ["infinite"]),
    ("float-0-255-ambiguous", lambda: PHOTO.astype(np.float32), ["ambiguous", "np.round(image).astype(np.uint8)"]),
    ("float-normalised", lambda: (PHOTO / 255.0 - 0.45) / 0.22, ["normalis", "x * std + mean"]),
    ("float-above-255", lambda: PHOTO.astype(np.float64) * 4, ["outside both 0..1 and 0..255"]),
    ("int64-pixels", lambda: PHOTO.astype(np.int64), ["int64", "image.astype(np.uint8)"]),
    ("uint16-pixels", lambda: PHOTO.astype(np.uint16) * 257, ["uint16", "257"]),
    ("int32-out-of-range", lambda: PHOTO.astype(np.int32) - 300, ["int32", "not 0..255"]),
    ("pil-int-out-of-range", lambda: Image.fromarray(np.full((4, 4), 70_000, np.int32)), ["mode I", "16-bit"]),
    ("torch-batch", lambda: _torch().zeros(2, 3, 8, 8), ["batch of 2 images"]),
    ("torch-float-0-255", lambda: _torch().full((3, 8, 8), 200.0), ["ambiguous"]),
]


@pytest.mark.parametrize(("make", "words"), [c[1:] for c in OBJECT_CASES], ids=[c[0] for c in OBJECT_CASES])
def test_bad_image_objects(make, words):
    obj = make()
    with pytest.raises(ImageError) as info:
        as_image(obj, "photo 3")
    message = str(info.value)
    assert message.startswith("photo 3:")
    for word in words:
        assert word in message, message
    assert "np.clip(" not in message  # the advice that turned 0..1 images black


# (id, make the object, the RGB pixels it must become)
CONVERTED_CASES = [
    ("grey-2d", lambda: PHOTO[..., 0], np.repeat(PHOTO[..., :1], 3, 2)),
    ("grey-hxwx1", lambda: PHOTO[..., :1], np.repeat(PHOTO[..., :1], 3, 2)),
    ("grey-alpha-hxwx2", lambda: PHOTO[..., :2], np.repeat(PHOTO[..., :1], 3, 2)),
    ("rgba-alpha-dropped", lambda: np.dstack([PHOTO, PHOTO[..., :1]]), PHOTO),
    ("float-0-1", lambda: PHOTO / 255.0, PHOTO),
    ("non-contiguous-view", lambda: np.asfortranarray(PHOTO)[:, ::-1][:, ::-1], PHOTO),
    ("pil-rgb", lambda: Image.fromarray(PHOTO), PHOTO),
    ("pil-rgba", lambda: Image.fromarray(np.dstack([PHOTO, PHOTO[..., :1]])), PHOTO),
    ("pil-16-bit", lambda: Image.fromarray(PHOTO[..., 0].astype(np.uint16) * 257), np.repeat(PHOTO[..., :1], 3, 2)),
    ("torch-chw-uint8", lambda: _torch().from_numpy(PHOTO.transpose(2, 0, 1).copy()), PHOTO),
    ("torch-chw-float-0-1", lambda: _torch().from_numpy(PHOTO.transpose(2, 0, 1) / 255.0), PHOTO),
]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CONVERTED_CASES], ids=[c[0] for c in CONVERTED_CASES])
def test_unambiguous_objects_are_converted(make, expected):
    image = as_image(make())
    assert image.dtype == np.uint8 and image.flags.c_contiguous
    np.testing.assert_array_equal(image, expected)


def test_a_png_named_jpg_and_a_16_bit_file_are_read(tmp_path):
    (tmp_path / "really_png.jpg").write_bytes(png_bytes())
    np.testing.assert_array_equal(read_image(tmp_path / "really_png.jpg"), PHOTO[..., ::-1])
    deep = PHOTO.astype(np.uint16) * 257
    (tmp_path / "deep.png").write_bytes(png_bytes(deep))
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png"), PHOTO[..., ::-1])


def test_one_image_or_a_list():
    images, single = as_images(Image.fromarray(PHOTO))
    assert single and len(images) == 1
    np.testing.assert_array_equal(images[0], PHOTO)
    images, single = as_images(PHOTO[..., 0])  # a grey array is one image, not a list of rows
    assert single and images[0].shape == PHOTO.shape
    images, single = as_images((PHOTO, PHOTO / 255.0))
    assert not single and len(images) == 2
    with pytest.raises(ImageError, match="image 1: float pixels"):
        as_images([PHOTO, PHOTO.astype(np.float32)])
    with pytest.raises(ImageError, match="empty list"):
        as_images([])
    images, single = as_images(np.stack([PHOTO, PHOTO]))  # a 4-D array is a batch, N first
    assert not single and len(images) == 2
