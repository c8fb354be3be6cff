"""The one image reader: EXIF orientation, one conversion rule for every entry point, size limits, damaged files."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import saliencykit as sk
from saliencykit.audit.dataset import load_image
from saliencykit.errors import ImageError
from saliencykit.images import DEFAULT_MAX_PIXELS, as_image, decode_image, read_image

# Pillow's transpose for each EXIF orientation (the mapping of PIL.ImageOps.exif_transpose).
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def save(image: Image.Image, path: Path, orientation: int | None = None, **options) -> Path:
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    image.save(path, **options)
    return path


@pytest.fixture(scope="module")
def photo(photos) -> np.ndarray:
    """A real photo, small and not square (so rotations change the shape)."""
    return cv2.resize(photos["chelsea"], (96, 64), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_to_jpegs(tmp_path, photo, orientation):
    upright = read_image(save(Image.fromarray(photo), tmp_path / "plain.jpg", quality=95))
    oriented = read_image(save(Image.fromarray(photo), tmp_path / "tagged.jpg", orientation, quality=95))
    # The same JPEG data with an orientation tag: the pixels are the stored ones turned as the tag says.
    expected = upright if orientation == 1 else np.asarray(Image.fromarray(upright).transpose(TRANSPOSE[orientation]))
    np.testing.assert_array_equal(oriented, expected)
    assert oriented.shape[:2] == ((96, 64) if orientation >= 5 else (64, 96))
    # OpenCV's own EXIF handling (IMREAD_COLOR) agrees pixel for pixel.
    reference = cv2.cvtColor(cv2.imread(str(tmp_path / "tagged.jpg"), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(oriented, reference)


def test_orientation_is_the_same_for_read_image_the_audit_and_pil_images(tmp_path, photo):
    """The same file gave an upright picture in the audit and a sideways one in predict/explain."""
    path = save(Image.fromarray(photo), tmp_path / "portrait.jpg", 6, quality=95)
    image = sk.read_image(path)
    audited, digest = load_image(path)
    assert image.shape == (96, 64, 3)
    np.testing.assert_array_equal(image, audited)
    np.testing.assert_array_equal(as_image(Image.open(path)), image)
    assert len(digest) == 40


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_exif_orientation_of_lossless_formats(tmp_path, fmt, orientation):
    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 9, 3), dtype=np.uint8)
    options = {"lossless": True} if fmt == "WEBP" else {}
    path = save(Image.fromarray(pixels), tmp_path / f"x.{fmt.lower()}", orientation, format=fmt, **options)
    expected = np.asarray(Image.fromarray(pixels).transpose(TRANSPOSE[orientation]))
    np.testing.assert_array_equal(read_image(path), expected)


def _modes(rgb: np.ndarray) -> dict[str, tuple[Image.Image, np.ndarray]]:
    """Source images of each mode with the RGB pixels every entry point must give for them."""
    image = Image.fromarray(rgb)
    grey = image.convert("L")
    grey3 = np.repeat(np.asarray(grey)[..., None], 3, axis=2)
    rgba = Image.fromarray(np.dstack([rgb, np.arange(rgb[..., 0].size).reshape(rgb.shape[:2]).astype(np.uint8)]))
    palette = image.quantize(colors=16)
    transparent = palette.copy()
    transparent.info["transparency"] = 3
    deep = (np.asarray(grey).astype(np.uint16) * 257 + 100).astype(np.uint16)
    return {
        "grey": (grey, grey3),
        "grey+alpha": (Image.merge("LA", [grey, grey.point(lambda v: 255 - v)]), grey3),
        "rgba": (rgba, rgb),  # alpha dropped, never blended
        "palette": (palette, np.asarray(palette.convert("RGB"))),
        "palette+transparency": (transparent, np.asarray(palette.convert("RGB"))),
        "1-bit": (image.convert("1"), np.repeat(np.asarray(image.convert("1").convert("L"))[..., None], 3, axis=2)),
        "16-bit grey": (Image.fromarray(deep), np.repeat(np.round(deep / 257).astype(np.uint8)[..., None], 3, axis=2)),
    }


@pytest.mark.parametrize("mode", list(_modes(np.zeros((2, 2, 3), np.uint8))))
def test_every_mode_converts_the_same_way_everywhere(tmp_path, photo, mode):
    source, expected = _modes(photo)[mode]
    path = tmp_path / "image.png"
    source.save(path, transparency=source.info["transparency"]) if "transparency" in source.info else source.save(path)
    from_file = read_image(path)
    np.testing.assert_array_equal(from_file, expected)
    np.testing.assert_array_equal(load_image(path)[0], expected)
    np.testing.assert_array_equal(as_image(Image.open(path)), expected)
    np.testing.assert_array_equal(as_image(source), expected)
    assert from_file.dtype == np.uint8 and from_file.flags.c_contiguous


def test_16_bit_rgb_is_scaled_by_257_with_rounding(tmp_path):
    deep = np.random.default_rng(1).integers(0, 65536, (6, 7, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])
    cv2.imwrite(str(tmp_path / "deep.tif"), deep[..., ::-1])
    expected = np.round(deep / 257).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.png"), expected)
    np.testing.assert_array_equal(read_image(tmp_path / "deep.tif"), expected)
    assert read_image(tmp_path / "deep.png").max() <= 255


def test_cmyk_jpeg_gif_bmp_and_webp(tmp_path, photo):
    image = Image.fromarray(photo)
    save(image.convert("CMYK"), tmp_path / "cmyk.jpg", quality=98)
    cmyk = read_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == photo.shape and np.abs(cmyk.astype(int) - photo).mean() < 4
    save(image, tmp_path / "lossless.webp", lossless=True)
    save(image, tmp_path / "photo.bmp")
    for name in ("lossless.webp", "photo.bmp"):
        np.testing.assert_array_equal(read_image(tmp_path / name), photo)
    gif = save(image.quantize(colors=64), tmp_path / "photo.gif")
    np.testing.assert_array_equal(read_image(gif), np.asarray(Image.open(gif).convert("RGB")))
    assert ".gif" in sk.images.IMAGE_SUFFIXES


def test_convert_keyword_is_still_accepted(tmp_path, photo):
    grey = save(Image.fromarray(photo).convert("L"), tmp_path / "grey.png")
    np.testing.assert_array_equal(read_image(grey, convert=False), read_image(grey, convert=True))
    np.testing.assert_array_equal(sk.check_image(np.asarray(Image.open(grey))), read_image(grey))


def damaged_jpeg(photo: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    data = bytearray(encoded.tobytes())
    start = data.rfind(b"\xff\xda") + 200
    for i in range(start, start + 60):
        data[i] ^= 0x5A
    return bytes(data)


def test_damaged_jpeg_is_an_error_unless_partial_decodes_are_allowed(tmp_path, photo, capfd):
    path = tmp_path / "damaged.jpg"
    path.write_bytes(damaged_jpeg(photo))
    with pytest.raises(ImageError, match="corrupt JPEG data") as info:
        read_image(path)
    assert str(path) in str(info.value) and "--allow-partial" in str(info.value)
    with pytest.raises(ImageError, match="corrupt JPEG data"):
        load_image(path)
    assert read_image(path, allow_partial=True).shape == photo.shape
    assert load_image(path, allow_partial=True)[0].shape == photo.shape
    # libjpeg's warning lines went into our message, not onto the terminal.
    assert capfd.readouterr().err == ""


def test_truncated_and_broken_files_fail_quietly(tmp_path, photo, capfd):
    ok, encoded = cv2.imencode(".jpg", photo)
    data = encoded.tobytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "cut_with_end.jpg").write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    ok, png = cv2.imencode(".png", photo)
    (tmp_path / "cut.png").write_bytes(png.tobytes()[: len(png) // 2])
    with pytest.raises(ImageError, match="truncated JPEG"):
        read_image(tmp_path / "cut.jpg")
    partial = read_image(tmp_path / "cut.jpg", allow_partial=True)  # the advice in the message works
    np.testing.assert_array_equal(partial[:8], read_image(tmp_path / "cut_with_end.jpg", allow_partial=True)[:8])
    assert partial.shape == photo.shape and np.abs(partial[:8].astype(int) - photo[:8, :, ::-1]).mean() < 10
    with pytest.raises(ImageError, match="corrupt JPEG data"):
        read_image(tmp_path / "cut_with_end.jpg")
    with pytest.raises(ImageError, match="not a readable image"):
        read_image(tmp_path / "cut.png")
    assert capfd.readouterr().err == ""


def test_other_threads_output_is_not_swallowed(tmp_path, photo, capfd):
    """Only codec lines are captured while decoding; anything else printed meanwhile still reaches stderr."""
    path = tmp_path / "damaged.jpg"
    path.write_bytes(damaged_jpeg(photo))
    from saliencykit.images import _codec_messages

    with _codec_messages() as messages:
        os.write(2, b"progress 3/10\rCorrupt JPEG data: 4 extraneous bytes before marker 0xd9\nprogress 4/10\r")
    assert messages == ["Corrupt JPEG data: 4 extraneous bytes before marker 0xd9"]
    assert capfd.readouterr().err == "progress 3/10\rprogress 4/10\r"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(width: int, height: int, idat: bytes = b"", color_type: int = 2) -> bytes:
    """A PNG of the given header size; with no ``idat`` it holds no pixel data: all a header check may look at."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    body = idat or zlib.compress(b"")
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def png_bomb(tmp_path_factory) -> Path:
    """A real 30000 x 30000 grey PNG of zeros: about 1 MB on disk, 900 MB decoded."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    size = 30_000
    squeeze = zlib.compressobj(9)
    row = bytes(size + 1)  # filter byte + pixels
    body = b"".join(squeeze.compress(row) for _ in range(size)) + squeeze.flush()
    path.write_bytes(png_bytes(size, size, body, color_type=0))
    return path


def test_decompression_bomb_is_refused_fast_and_without_decoding(png_bomb):
    assert struct.unpack(">II", png_bomb.read_bytes()[16:24]) == (30_000, 30_000)
    code = (
        "import resource, sys, time; import saliencykit as sk\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "start = time.perf_counter()\n"
        "try:\n    sk.read_image(sys.argv[1])\nexcept sk.errors.ImageError as e:\n    print(e)\n"
        "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(sk.__file__).parents[1]))
    env.pop("SALIENCYKIT_MAX_PIXELS", None)
    out = subprocess.run([sys.executable, "-c", code, str(png_bomb)], capture_output=True, text=True, env=env)
    message, numbers = out.stdout.strip().splitlines()
    seconds, grown_kb = numbers.split()
    assert "30000 x 30000" in message and "max_pixels" in message and "--max-pixels" in message
    assert float(seconds) < 0.5 and int(grown_kb) < 50_000, out.stdout  # nothing near the 900 MB of pixels
    assert out.stderr == ""


def test_size_limit_options(tmp_path, monkeypatch, photo):
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    pixels = photo.shape[0] * photo.shape[1]
    with pytest.raises(ImageError, match=r"96 x 64 pixels.*max_pixels="):
        read_image(path, max_pixels=pixels - 1)
    assert read_image(path, max_pixels=pixels).shape == photo.shape
    monkeypatch.setenv("SALIENCYKIT_MAX_PIXELS", str(pixels - 1))
    with pytest.raises(ImageError, match="SALIENCYKIT_MAX_PIXELS"):
        read_image(path)
    assert read_image(path, max_pixels=pixels).shape == photo.shape  # the argument wins
    monkeypatch.setenv("SALIENCYKIT_MAX_PIXELS", "lots")
    with pytest.raises(ImageError, match="SALIENCYKIT_MAX_PIXELS is 'lots'"):
        read_image(path)
    monkeypatch.delenv("SALIENCYKIT_MAX_PIXELS")
    assert 100_000_000 <= DEFAULT_MAX_PIXELS <= 150_000_000
    # A header claiming 12000 x 12000 is refused by default, before any decoding.
    with pytest.raises(ImageError, match="12000 x 12000 pixels.*limit"):
        decode_image(png_bytes(12_000, 12_000), "big.png")


def test_header_limits_need_no_pixels():
    start = time.perf_counter()
    with pytest.raises(ImageError, match="strip"):
        decode_image(png_bytes(20_000, 10), "strip.png")
    assert time.perf_counter() - start < 0.5


# ------------------------------------------------------------------------------------------ properties

MODES = ["L", "LA", "RGB", "RGBA", "I;16"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from(MODES),
    shape=st.tuples(st.integers(2, 12), st.integers(2, 12)),
    data=st.data(),
)
def test_any_array_round_trips_through_png(tmp_path, mode, shape, data):
    channels = {"L": 0, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 0}[mode]
    dtype = np.uint16 if mode == "I;16" else np.uint8
    full = shape + ((channels,) if channels else ())
    pixels = data.draw(hnp.arrays(dtype, full))
    path = tmp_path / "x.png"
    Image.fromarray(pixels).save(path) if mode != "I;16" else cv2.imwrite(str(path), pixels)
    scaled = np.round(pixels / 257).astype(np.uint8) if dtype == np.uint16 else pixels
    if scaled.ndim == 2:
        expected = np.repeat(scaled[..., None], 3, axis=2)
    elif scaled.shape[2] == 2:
        expected = np.repeat(scaled[..., :1], 3, axis=2)
    else:
        expected = scaled[..., :3]
    np.testing.assert_array_equal(read_image(path), expected)
    np.testing.assert_array_equal(as_image(pixels if dtype == np.uint8 else Image.open(path)), expected)


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP"]),
    body=st.binary(max_size=300),
)
def test_random_bytes_only_ever_raise_image_error(prefix, body):
    try:
        image = decode_image(prefix + body, "random.bin")
    except ImageError as exc:
        assert "random.bin" in str(exc)
    else:  # a valid tiny image by chance: then it is a proper one
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=6), elements=st.floats()))
def test_float_arrays_are_scaled_or_refused_never_mangled(array):
    if array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4):
        return
    try:
        image = as_image(array)
    except ImageError as exc:
        assert not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1), exc
        return
    assert np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1
    assert image.dtype == np.uint8 and image.shape[2] == 3
    assert np.abs(image[..., 0].astype(float) - array.reshape(array.shape[:2] + (-1,))[..., 0] * 255).max() <= 0.5


def test_torch_tensors_and_pil_images(photo):
    torch = pytest.importorskip("torch")
    chw = torch.from_numpy(photo).permute(2, 0, 1)
    np.testing.assert_array_equal(as_image(chw), photo)
    np.testing.assert_array_equal(as_image(torch.from_numpy(photo)), photo)
    np.testing.assert_array_equal(as_image(chw.float() / 255), photo)  # torchvision's ToTensor output
    np.testing.assert_array_equal(as_image(Image.fromarray(photo)), photo)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "PNG")
    np.testing.assert_array_equal(as_image(Image.open(buffer)), photo)
    same = np.ascontiguousarray(photo)
    assert as_image(same) is same  # no copy for arrays that are already right


def test_reading_from_several_threads_keeps_each_files_verdict(tmp_path, photo, capfd):
    """The audit reads with a thread pool: a damaged file's warning must not be blamed on another file."""
    from concurrent.futures import ThreadPoolExecutor

    good = save(Image.fromarray(photo), tmp_path / "good.jpg", quality=90)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(damaged_jpeg(photo))
    expected = read_image(good)

    def verdict(path: Path) -> str:
        try:
            return "same" if np.array_equal(read_image(path), expected) else "different"
        except ImageError as exc:
            return "corrupt" if "corrupt JPEG data" in str(exc) else str(exc)

    paths = [good, bad] * 20
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(verdict, paths))
    assert verdicts == ["same", "corrupt"] * 20
    assert capfd.readouterr().err == ""
