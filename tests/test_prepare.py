"""Input preparation: scaling, deskewing, augmentation, and pictures -> MNIST-style 28x28 digits."""

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw
from synthetic import make_digits

from fiveornot import prepare
from fiveornot.errors import FiveornotError, ImageError, ModelFileError
from fiveornot.prepare import SCALES, Preparation, augment, augment_batches, deskew, image_to_mnist

# ---- helpers --------------------------------------------------------------------------------------------


def moments(image):
    """Centre of mass (row, col) and the slant cov(row, col) / var(row), computed the plain way."""
    image = np.asarray(image, dtype=np.float64)
    rows, cols = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    total = image.sum()
    mean_row, mean_col = (rows * image).sum() / total, (cols * image).sum() / total
    var_row = ((rows - mean_row) ** 2 * image).sum() / total
    cov = ((rows - mean_row) * (cols - mean_col) * image).sum() / total
    return mean_row, mean_col, cov / var_row


def bar(top, bottom, slant, width=3.0):
    """A 28x28 bar from row `top` to `bottom`, leaning `slant` columns per row, antialiased."""
    rows, cols = np.mgrid[0:28, 0:28].astype(float)
    centre = 14 + slant * (rows - (top + bottom) / 2)
    across = np.clip(width / 2 + 0.5 - np.abs(cols - centre), 0, 1)
    along = (rows >= top) & (rows <= bottom)
    return np.rint(255 * across * along).astype(np.uint8)


def draw_five(size=280, ink=0, paper=255, width=None, box=None, mode="L"):
    """A hand-drawn-looking '5' with PIL lines, inside `box` (left, top, right, bottom) of a size x size canvas."""
    left, top, right, bottom = box or (size * 0.3, size * 0.15, size * 0.7, size * 0.85)
    w, h = right - left, bottom - top
    width = width or max(1, int(w * 0.2))
    image = Image.new(mode, (size, size), paper)
    draw = ImageDraw.Draw(image)
    draw.line([(right, top), (left + 0.1 * w, top), (left, top + 0.45 * h)], fill=ink, width=width, joint="curve")
    draw.arc([left, top + 0.3 * h, right, bottom], start=200, end=160, fill=ink, width=width)
    return image


def encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def correlation(a, b):
    return float(np.corrcoef(np.ravel(a).astype(float), np.ravel(b).astype(float))[0, 1])


def nonzero_box(image):
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def png_claiming_size(width, height):
    """A tiny PNG whose header says width x height: decoding it for real would need gigabytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def reference_five():
    """The MNIST-style result of the plain black-on-white drawing, that the variants are compared against."""
    return image_to_mnist(draw_five())


# ---- scaling --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images():
    return make_digits(50, seed=3)[0]


def test_none_keeps_raw_pixels_as_float32(images):
    prepared = Preparation("none").fit(images).transform(images)
    assert prepared.dtype == np.float32 and prepared.flags.c_contiguous and prepared.shape == (50, 784)
    np.testing.assert_array_equal(prepared, images.reshape(50, 784).astype(np.float32))


def test_unit_divides_by_255(images):
    prepared = Preparation("unit").transform(images)
    np.testing.assert_allclose(prepared, images.reshape(50, 784) / 255.0, rtol=1e-6)
    assert prepared.min() >= 0 and prepared.max() <= 1


def test_standard_uses_the_training_statistics():
    train, other = make_digits(200, seed=4)[0], make_digits(30, seed=5)[0]
    preparation = Preparation("standard").fit(train)
    rows = train.reshape(200, 784).astype(np.float64)
    floor = rows.std()
    std = np.maximum(rows.std(axis=0), floor)
    np.testing.assert_allclose(preparation.mean_, rows.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(preparation.std_, std, rtol=1e-5)
    expected = (other.reshape(30, 784) - rows.mean(axis=0)) / std
    np.testing.assert_allclose(preparation.transform(other), expected, rtol=1e-4, atol=1e-5)


def test_standard_keeps_constant_pixels_at_zero_and_finite():
    train = np.zeros((10, 28, 28), np.uint8)
    train[:, 10:15, 10:15] = np.arange(10)[:, None, None] * 20
    train[:, 0, 0] = 7                                  # constant, but not 0
    preparation = Preparation("standard").fit(train)
    prepared = preparation.transform(train)
    assert np.isfinite(prepared).all()
    assert (prepared[:, 0] == 0).all() and (prepared[:, 783] == 0).all()
    blank = Preparation("standard").fit(np.zeros((3, 784), np.uint8))
    assert np.isfinite(blank.transform(np.full(784, 255, np.uint8))).all()


@pytest.mark.parametrize("shape, count", [((5, 28, 28), 5), ((5, 784), 5), ((28, 28), 1), ((784,), 1)])
def test_transform_accepts_every_shape(images, shape, count):
    given = images[:count].reshape(shape)
    prepared = Preparation("unit", deskew=True).transform(given)
    assert prepared.shape == (count, 784)
    np.testing.assert_array_equal(prepared, Preparation("unit", deskew=True).transform(images[:count]))


@pytest.mark.parametrize("shape", [(5, 27, 28), (5, 785), (3,), (2, 2, 28, 28)])
def test_transform_refuses_other_shapes(shape):
    with pytest.raises(ValueError, match="28, 28"):
        Preparation("unit").transform(np.zeros(shape, np.uint8))


def test_standard_must_be_fit_first(images):
    with pytest.raises(RuntimeError, match="fit"):
        Preparation("standard").transform(images)


def test_fit_transform_is_fit_then_transform(images):
    for scale in SCALES:
        together = Preparation(scale, deskew=True).fit_transform(images)
        np.testing.assert_array_equal(together, Preparation(scale, deskew=True).fit(images).transform(images))


@pytest.mark.parametrize("scale", SCALES)
def test_transform_is_the_affine_map_of_the_rows(images, scale):
    preparation = Preparation(scale, deskew=True).fit(images)
    a, b = preparation.affine()
    expected = np.multiply(preparation.rows(images), a, dtype=np.float32) + b
    np.testing.assert_array_equal(preparation.transform(images), expected)


def test_deskew_option_deskews_before_scaling(images):
    # Deskewed pixels are rounded back to bytes (so training can keep every image as uint8), then scaled.
    prepared = Preparation("unit", deskew=True).transform(images)
    np.testing.assert_allclose(prepared, np.rint(deskew(images)).reshape(50, 784) / 255, rtol=1e-6)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="'scale' parameter .* Got 'minmax'"):
        Preparation("minmax")
    with pytest.raises(TypeError, match="'deskew' parameter"):
        Preparation("unit", deskew="yes")


def test_repr_is_readable():
    assert repr(Preparation("unit", deskew=True)) == "Preparation(scale='unit', deskew=True)"
    assert repr(Preparation()) == "Preparation(scale='unit', deskew=False)"


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("deskew_flag", [False, True])
def test_saved_preparation_transforms_identically(tmp_path, images, scale, deskew_flag):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    preparation = Preparation(scale, deskew=deskew_flag).fit(images)
    tensors, metadata = preparation.to_tensors(), preparation.to_metadata()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    assert set(tensors) == ({"prep.mean", "prep.std"} if scale == "standard" else set())
    path = tmp_path / "model.safetensors"
    save_file(dict(tensors, weights=np.zeros(784, np.float32)), path, metadata=metadata)  # as in a model file
    with safe_open(path, "numpy") as file:
        saved_metadata = file.metadata()
    restored = Preparation.from_saved(saved_metadata, load_file(path))
    assert repr(restored) == repr(preparation)
    other = make_digits(20, seed=9)[0]
    np.testing.assert_array_equal(restored.transform(other), preparation.transform(other))


@pytest.mark.parametrize("metadata, tensors, message", [
    ({"scale": "minmax", "deskew": "false"}, {}, "unknown scale 'minmax'"),
    ({"deskew": "false"}, {}, "unknown scale None"),
    ({"scale": "unit", "deskew": "maybe"}, {}, "invalid deskew"),
    ({"scale": "unit"}, {}, "invalid deskew"),
    ({"scale": "standard", "deskew": "false"}, {}, "no 'prep.mean'"),
    ({"scale": "standard", "deskew": "false"},
     {"prep.mean": np.zeros(784, np.float32), "prep.std": np.ones(783, np.float32)}, "784 finite"),
    ({"scale": "standard", "deskew": "false"},
     {"prep.mean": np.full(784, np.nan, np.float32), "prep.std": np.ones(784, np.float32)}, "784 finite"),
    ({"scale": "standard", "deskew": "false"},
     {"prep.mean": np.zeros(784, np.float32), "prep.std": np.zeros(784, np.float32)}, "not all positive"),
])
def test_invalid_saved_preparation_is_a_model_file_error(metadata, tensors, message):
    with pytest.raises(ModelFileError, match=message) as caught:
        Preparation.from_saved(metadata, tensors)
    assert "\n" not in str(caught.value)


# ---- deskew ---------------------------------------------------------------------------------------------


def test_deskew_straightens_a_slanted_bar():
    slanted = bar(4, 23, slant=0.4)
    assert moments(slanted)[2] == pytest.approx(0.4, abs=0.03)
    straightened = deskew(slanted)
    assert abs(moments(straightened)[2]) < 0.02
    # Upright: every row's ink sits in the same few columns.
    columns = np.flatnonzero(straightened.max(axis=0) > 64)
    assert columns.max() - columns.min() <= 4


def test_deskew_moves_the_centre_of_mass_to_the_centre():
    slanted = np.roll(bar(6, 21, slant=-0.5), (2, -3), axis=(0, 1))
    after = moments(deskew(slanted))
    assert after[0] == pytest.approx(14.0, abs=0.05) and after[1] == pytest.approx(14.0, abs=0.05)


def test_deskew_leaves_a_centred_upright_bar_alone():
    upright = bar(5, 23, slant=0.0)                      # centre of mass (14, 14) already
    assert moments(upright)[:2] == pytest.approx((14.0, 14.0))
    np.testing.assert_allclose(deskew(upright), upright, atol=0.5)


def test_deskew_keeps_blank_images_blank():
    batch = np.zeros((3, 28, 28), np.uint8)
    batch[1] = bar(4, 23, slant=0.3)
    result = deskew(batch)
    assert result.dtype == np.float32 and result.shape == (3, 28, 28)
    assert np.isfinite(result).all() and not result[0].any() and not result[2].any()
    horizontal = np.zeros((28, 28), np.uint8)
    horizontal[14, 6:23] = 255                          # no vertical extent: nothing to straighten, centred
    np.testing.assert_array_equal(deskew(horizontal), horizontal)


def test_deskew_matches_the_classic_scipy_deskew():
    from scipy import ndimage

    digits = make_digits(40, seed=6)[0]
    for digit, ours in zip(digits, deskew(digits)):
        mean_row, mean_col, slant = moments(digit)
        # The classic: output (r, c) reads input A @ (r, c) + offset with A = [[1, 0], [slant, 1]] and the offset
        # that sends the output centre (14, 14) to the centre of mass; bilinear, zeros outside.
        shear = np.array([[1, 0], [slant, 1]])
        offset = np.array([mean_row, mean_col]) - shear @ np.array([14.0, 14.0])
        expected = ndimage.affine_transform(digit.astype(float), shear, offset=offset, order=1, mode="grid-constant")
        np.testing.assert_allclose(ours, expected, atol=1e-3)


def test_deskew_of_a_big_batch_equals_one_at_a_time():
    digits = make_digits(2 * prepare._CHUNK + 17, seed=7)[0]
    batch = deskew(digits)
    for index in (0, prepare._CHUNK - 1, prepare._CHUNK, len(digits) - 1):
        np.testing.assert_allclose(batch[index], deskew(digits[index]), atol=1e-4)
    assert batch.min() >= 0 and batch.max() <= 255


# ---- augmentation ---------------------------------------------------------------------------------------


def test_augment_is_seeded(images):
    first = augment(images, 2, np.random.default_rng(1))
    again = augment(images, 2, np.random.default_rng(1))
    other = augment(images, 2, np.random.default_rng(2))
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


def test_augment_shape_dtype_and_ink(images):
    copies = augment(images, 3, np.random.default_rng(0))
    assert copies.shape == (150, 28, 28) and copies.dtype == np.uint8
    assert (copies.reshape(150, -1).max(axis=1) > 100).all()       # every shifted copy still shows its digit


def test_augment_is_image_major_so_labels_repeat():
    # With no movement allowed every copy is its source, so the order is visible; 300 x 3 crosses chunks.
    digits = make_digits(300, seed=8)[0]
    copies = augment(digits, 3, np.random.default_rng(0), max_shift=0, max_rotate=0, max_scale=0)
    np.testing.assert_array_equal(copies, np.repeat(digits, 3, axis=0))
    assert augment(digits, 0, np.random.default_rng(0)).shape == (0, 28, 28)


def test_augment_shifts_stay_within_max_shift():
    digits = make_digits(100, seed=10)[0]
    copies = augment(digits, 1, np.random.default_rng(0), max_shift=2, max_rotate=0, max_scale=0)
    for digit, copy in zip(digits, copies):
        before, after = np.array(moments(digit)[:2]), np.array(moments(copy)[:2])
        assert np.abs(after - before).max() <= 2.3
    assert (copies != digits).any()


def test_augment_rotates():
    upright = bar(4, 23, slant=0.0)
    copies = augment(upright[None], 20, np.random.default_rng(0), max_shift=0, max_rotate=20, max_scale=0)
    slants = np.array([moments(copy)[2] for copy in copies])
    assert np.abs(slants).max() > 0.15                  # tan(20 degrees) = 0.36
    assert np.abs(slants).max() < 0.45


def test_elastic_augmentation_is_seeded_and_different(images):
    plain = augment(images, 1, np.random.default_rng(3))
    elastic = augment(images, 1, np.random.default_rng(3), elastic=True)
    np.testing.assert_array_equal(elastic, augment(images, 1, np.random.default_rng(3), elastic=True))
    assert (plain != elastic).any() and elastic.reshape(len(images), -1).max(axis=1).min() > 50


def test_augment_batches_cover_every_image_once():
    digits = make_digits(45, seed=11)[0]
    labels = np.arange(45)
    parts = list(augment_batches(digits, labels, 2, np.random.default_rng(0), chunk=20, max_shift=1))
    assert all(len(part_images) <= 20 and len(part_images) == len(part_labels) for part_images, part_labels in parts)
    np.testing.assert_array_equal(np.concatenate([part_labels for _, part_labels in parts]), np.repeat(labels, 2))
    assert sum(len(part_images) for part_images, _ in parts) == 90
    assert list(augment_batches(digits, labels, 0, np.random.default_rng(0))) == []


def test_augment_batches_refuses_mismatched_labels(images):
    with pytest.raises(ValueError, match="same count"):
        list(augment_batches(images, np.zeros(3), 1, np.random.default_rng(0)))


# ---- pictures -> MNIST-style digits ----------------------------------------------------------------------


def test_black_on_white_is_inverted_and_fitted(reference_five):
    digit = reference_five
    assert digit.dtype == np.uint8 and digit.shape == (28, 28)
    assert digit[0].max() == 0 and digit[:, 0].max() == 0 and digit[-1].max() == 0   # dark background
    assert digit.max() == 255
    assert max(nonzero_box(digit)) in (19, 20, 21)
    mean_row, mean_col, _ = moments(digit)
    assert abs(mean_row - 14) <= 1 and abs(mean_col - 14) <= 1


def test_white_on_black_gives_the_same_digit(reference_five):
    digit = image_to_mnist(draw_five(ink=255, paper=0))
    assert correlation(digit, reference_five) > 0.98


def test_small_off_centre_digit_is_centred_and_enlarged(reference_five):
    small = draw_five(size=600, box=(420, 30, 470, 110), width=8)
    digit = image_to_mnist(small)
    mean_row, mean_col, _ = moments(digit)
    assert abs(mean_row - 14) <= 1 and abs(mean_col - 14) <= 1
    assert max(nonzero_box(digit)) in (19, 20, 21)
    assert correlation(digit, reference_five) > 0.8


def test_aspect_ratio_is_kept():
    one = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(one).line([(150, 40), (150, 260)], fill=0, width=20)
    height, width = nonzero_box(image_to_mnist(one))
    assert height in (19, 20, 21) and width <= 5


def test_transparent_background_with_dark_ink(reference_five):
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    canvas.paste(draw_five(ink=0, paper=0, mode="L").convert("RGBA"), mask=draw_five(ink=255, paper=0))
    assert correlation(image_to_mnist(canvas), reference_five) > 0.95
    assert correlation(image_to_mnist(encoded(canvas, "PNG")), reference_five) > 0.95


def test_transparent_background_with_white_ink(reference_five):
    canvas = Image.new("RGBA", (280, 280), (255, 255, 255, 0))
    canvas.paste((255, 255, 255, 255), mask=draw_five(ink=255, paper=0))
    assert correlation(image_to_mnist(canvas), reference_five) > 0.95


def test_fully_transparent_picture_has_no_ink():
    with pytest.raises(ImageError, match="has no ink"):
        image_to_mnist(Image.new("RGBA", (50, 50), (0, 0, 0, 0)))


@pytest.mark.parametrize("fmt, mode, options", [
    ("PNG", "L", {}), ("PNG", "RGB", {}), ("GIF", "P", {}), ("BMP", "RGB", {}),
    ("JPEG", "RGB", {"quality": 70}), ("JPEG", "L", {"quality": 50}), ("PNG", "I;16", {}), ("TIFF", "CMYK", {}),
    ("PNG", "1", {}),
])
def test_file_formats_and_modes(reference_five, fmt, mode, options):
    picture = draw_five(mode="RGB", ink=(20, 20, 90), paper=(250, 245, 235))
    if mode == "I;16":
        picture = Image.fromarray(np.asarray(picture.convert("L"), dtype=np.uint16) * 257)
    elif mode == "1":
        picture = draw_five().convert("1")              # black and white already: no dithering
    else:
        picture = picture.convert(mode)
    digit = image_to_mnist(encoded(picture, fmt, **options))
    assert digit.dtype == np.uint8 and digit.shape == (28, 28)
    assert correlation(digit, reference_five) > 0.9


def test_paths_and_strings(tmp_path, reference_five):
    path = tmp_path / "five.png"
    draw_five().save(path)
    np.testing.assert_array_equal(image_to_mnist(path), reference_five)
    np.testing.assert_array_equal(image_to_mnist(str(path)), reference_five)


def test_data_url(reference_five):
    url = "data:image/png;base64," + base64.b64encode(encoded(draw_five(), "PNG")).decode()
    np.testing.assert_array_equal(image_to_mnist(url), reference_five)


@pytest.mark.parametrize("channels", [None, 3, 4])
def test_numpy_arrays(reference_five, channels):
    grey = np.asarray(draw_five())
    array = grey if channels is None else np.repeat(grey[:, :, None], channels, axis=2)
    if channels == 4:
        array[:, :, 3] = 255
    np.testing.assert_array_equal(image_to_mnist(array), reference_five)
    assert correlation(image_to_mnist(grey.astype(np.float64)), reference_five) > 0.99


def test_huge_picture(reference_five):
    big = draw_five(size=5000)
    assert correlation(image_to_mnist(big), reference_five) > 0.95


def test_thin_pen_on_a_big_page_is_thickened(reference_five):
    page = draw_five(size=1500, width=3)
    digit = image_to_mnist(page)
    assert (digit > 127).sum() >= 40                   # not a faint hairline
    assert correlation(digit, reference_five) > 0.7


def test_speckled_photo_ignores_the_specks(reference_five):
    rng = np.random.default_rng(0)
    photo = np.asarray(draw_five(size=400), dtype=float) * 0.7 + 40   # grey paper, grey ink
    photo += rng.normal(0, 6, photo.shape)
    for row, col in rng.integers(0, 400, size=(15, 2)):
        photo[row:row + 2, col:col + 2] = 50           # dust
    digit = image_to_mnist(encoded(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)), "JPEG", quality=80))
    assert correlation(digit, reference_five) > 0.85
    assert max(nonzero_box(digit)) in (19, 20, 21)


def one_line_error(source, match):
    with pytest.raises(ImageError, match=match) as caught:
        image_to_mnist(source)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_not_an_image(tmp_path):
    one_line_error(np.random.default_rng(0).bytes(500), "is not an image Pillow can read")
    text = tmp_path / "notes.txt"
    text.write_text("this is not a picture\n")
    assert "notes.txt" in one_line_error(text, "is not an image Pillow can read \\(PNG, JPEG, BMP, GIF")


def test_zero_size_file(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert "empty.png" in one_line_error(empty, "is empty")
    one_line_error(np.zeros((0, 5)), "zero size")


def test_missing_file_and_folder(tmp_path):
    assert "nowhere.png" in one_line_error(tmp_path / "nowhere.png", "does not exist")
    one_line_error(tmp_path, "is a directory")


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(encoded(draw_five(), "PNG")[:300])
    assert "cut.png" in one_line_error(path, "damaged or truncated")


@pytest.mark.parametrize("colour", [255, 0, 128])
def test_blank_picture_has_no_ink(tmp_path, colour):
    path = tmp_path / "blank.png"
    Image.new("L", (100, 80), colour).save(path)
    assert "blank.png" in one_line_error(path, "has no ink: draw or photograph a digit")


def test_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming_size(100_000, 100_000))
    assert "bomb.png" in one_line_error(path, "too large")


def test_pixel_limit(monkeypatch, tmp_path, reference_five):
    path = tmp_path / "five.png"
    draw_five().save(path)
    monkeypatch.setattr(prepare, "MAX_PIXELS", 200 * 200)
    assert "five.png" in one_line_error(path, "too large \\(280x280 pixels")
    one_line_error(draw_five(), "too large")


def test_pillow_warning_is_refused_too(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)    # Pillow warns above this, errors above twice
    one_line_error(encoded(draw_five(size=120), "PNG"), "too large")


def test_damaged_picture_opened_by_the_caller(tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(encoded(draw_five(), "JPEG")[:400])
    with Image.open(path) as lazy:                      # Pillow only read the header so far
        one_line_error(lazy, "damaged or truncated")


def test_bad_data_url():
    one_line_error("data:image/png;base64,@@@@", "base64")
    one_line_error("data:image/png;base64", "no ','")


def test_unsupported_source_type():
    with pytest.raises(TypeError, match="takes a path"):
        image_to_mnist(12345)


# ---- against real MNIST ----------------------------------------------------------------------------------


@pytest.mark.mnist
def test_mnist_digits_survive_the_round_trip(request):
    try:
        (_, _), (x_test, _) = request.getfixturevalue("mnist")
    except (ImportError, OSError, FiveornotError) as error:  # no data layer, or no way to fetch MNIST here
        pytest.skip(f"real MNIST is not available: {error}")
    digits = np.asarray(x_test[:200])
    correlations, differences = [], []
    for digit in digits:
        picture = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.NEAREST)   # black on white
        prepared = image_to_mnist(picture)
        correlations.append(correlation(prepared, digit))
        differences.append(np.abs(prepared.astype(float) - digit).mean())
    assert np.mean(correlations) > 0.95 and np.median(correlations) > 0.98
    assert np.mean(differences) < 8


def test_importing_prepare_stays_light():
    import subprocess
    import sys

    code = "import sys, fiveornot.prepare; print(sorted(m for m in ('scipy', 'PIL') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
