"""Input preparation: how raw uint8 digits become model inputs, the same way at train, evaluate, predict and serve.

Four tools, used in this order by the rest of fiveornot:

- `image_to_mnist` turns any picture (a file, bytes, a data URL, a PIL image, an array) into a 28x28 digit
  prepared the way MNIST's own were: grey, ink bright on dark, cropped to the ink, fitted into a 20x20 box,
  centre of mass at the centre.
- `augment` / `augment_batches` make randomly shifted, rotated, scaled (optionally elastically distorted)
  copies of training digits: the "more data" lever.
- `deskew` straightens each digit by its second moments: the classic MNIST "data preparation" lever.
- `Preparation` chains the optional deskew and the input scaling (none, unit, standard), learns what it needs
  from the training images and is stored in the model file, so that a model always sees its inputs prepared
  exactly as in training.

Only numpy is imported here; scipy.ndimage and Pillow are imported inside the functions that need them, so
that importing the package (and starting the CLI) stays fast.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import struct
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fiveornot.errors import ImageError, ModelFileError

SCALES = ("none", "unit", "standard")

SIDE = 28                   # MNIST images are SIDE x SIDE
N_PIXELS = SIDE * SIDE
MNIST_BOX = 20              # MNIST fitted each digit's longer side into 20 pixels ...
MNIST_CENTRE = 14.0         # ... and put its centre of mass here (measured on MNIST: 13.99, 14.01)
CENTRE = MNIST_CENTRE       # where deskew puts each digit's centre of mass

MAX_PIXELS = 40_000_000     # refuse pictures over 40 megapixels before decoding them
_CHUNK = 2048               # images per vectorised step of deskew: big enough for numpy, small enough for cache
_WARP_CHUNK = 512           # images per map_coordinates call; keeps float32 read positions exact to 1/1000 px


# ---- scaling and deskewing, stored with the model ---------------------------------------------------------


class Preparation:
    """How raw uint8 images become model inputs: optional deskew, then scaling. Stored in the model file.

    Parameters
    ----------
    scale : {"none", "unit", "standard"}, default "unit"
        ``none`` keeps raw 0..255 pixels (the tutorial's first model), ``unit`` divides by 255, ``standard``
        subtracts each pixel's training mean and divides by its training standard deviation, floored at the
        standard deviation of all training pixels together (see `fit`).
    deskew : bool, default False
        Straighten each digit by its second moments (see `deskew`) before scaling.

    Attributes
    ----------
    mean_, std_ : ndarray of shape (784,), float32
        The training statistics, learned by `fit` (only for ``scale="standard"``; None otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> prep = Preparation(scale="unit").fit(np.zeros((2, 28, 28), np.uint8))
    >>> prep.transform(np.full((28, 28), 255, np.uint8)).shape
    (1, 784)
    >>> prep
    Preparation(scale='unit', deskew=False)
    """

    def __init__(self, scale: str = "unit", deskew: bool = False):
        if scale not in SCALES:
            raise ValueError(f"The 'scale' parameter of Preparation must be one of {', '.join(SCALES)}. "
                             f"Got {scale!r} instead.")
        if not isinstance(deskew, (bool, np.bool_)):
            raise TypeError(f"The 'deskew' parameter of Preparation must be a bool. Got {deskew!r} instead.")
        self.scale = scale
        self.deskew = bool(deskew)
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self._affine: tuple[np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"Preparation(scale={self.scale!r}, deskew={self.deskew})"

    @property
    def needs_fit(self) -> bool:
        """True when `transform` needs training statistics that `fit` has not learned yet."""
        return self.scale == "standard" and self.mean_ is None

    def fit(self, images) -> Preparation:
        """Learn what the scaling needs from training images (uint8, (N, 28, 28) or (N, 784)); returns self.

        For ``standard``: each pixel's mean and standard deviation, the latter never below the standard
        deviation of all pixels together. Without that floor a pixel inked in a handful of training images
        (std near 0) would be blown up: one stroke there at predict time becomes an enormous input, and
        training overfits it (five vs rest on MNIST: 96.7% test accuracy with a floor of 1 grey level, 98.0%
        with this one, the same as ``unit``).
        """
        self._fit_rows(self._deskewed_rows(images))
        return self

    def fit_transform(self, images) -> np.ndarray:
        """`fit` then `transform` on the same images, deskewing them only once."""
        rows = self._deskewed_rows(images)
        self._fit_rows(rows)
        return self._scale_rows(rows)

    def transform(self, images) -> np.ndarray:
        """Prepare images for the model: float32, C-contiguous, shape (N, 784).

        Accepts (N, 28, 28), (N, 784), or one image as (28, 28) or (784,).
        """
        if self.needs_fit:
            raise RuntimeError("Preparation(scale='standard') must be fit on the training images before transform.")
        return self._scale_rows(self._deskewed_rows(images))

    def to_tensors(self) -> dict[str, np.ndarray]:
        """The arrays to store in the model file (empty unless the scaling learned statistics)."""
        if self.scale != "standard":
            return {}
        if self.needs_fit:
            raise RuntimeError("Preparation(scale='standard') must be fit before it can be saved.")
        return {"prep.mean": self.mean_.copy(), "prep.std": self.std_.copy()}

    def to_metadata(self) -> dict[str, str]:
        """The settings to store in the model file's metadata (str -> str, as safetensors requires)."""
        return {"scale": self.scale, "deskew": "true" if self.deskew else "false"}

    @classmethod
    def from_saved(cls, metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> Preparation:
        """Rebuild the preparation stored by `to_metadata` and `to_tensors`, refusing anything invalid.

        Raises
        ------
        ModelFileError
            When the scale or deskew setting is missing or unknown, or the statistics are missing, of the
            wrong shape, or not finite and positive.
        """
        scale, deskew_flag = metadata.get("scale"), metadata.get("deskew")
        if scale not in SCALES:
            raise ModelFileError(f"The model file's input preparation has an unknown scale {scale!r} (expected "
                                 f"one of {', '.join(SCALES)}): retrain the model with this fiveornot.")
        if deskew_flag not in ("true", "false"):
            raise ModelFileError(f"The model file's input preparation has an invalid deskew setting "
                                 f"{deskew_flag!r} (expected 'true' or 'false'): retrain the model.")
        preparation = cls(scale=scale, deskew=deskew_flag == "true")
        if scale == "standard":
            preparation.mean_ = _saved_statistic(tensors, "prep.mean")
            preparation.std_ = _saved_statistic(tensors, "prep.std")
            if not (preparation.std_ > 0).all():
                raise ModelFileError("The model file's input statistics 'prep.std' are not all positive: "
                                     "retrain the model.")
        return preparation

    # For the training loop, which reads uint8 pixels and scales them on the fly (see kernels.py).

    def rows(self, images) -> np.ndarray:
        """The pixels the scaling applies to: uint8 (N, 784), deskewed (and rounded) when asked."""
        return self._deskewed_rows(images)

    def fit_rows(self, images) -> np.ndarray:
        """`fit` on training images, returning their `rows` so that deskewing runs once."""
        rows = self._deskewed_rows(images)
        self._fit_rows(rows)
        return rows

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, b), float32 (784,) each and read-only, with transform(images) == a * rows(images) + b."""
        if self.needs_fit:
            raise RuntimeError("Preparation(scale='standard') must be fit on the training images first.")
        if self._affine is None:   # made once: the web page transforms one image per request
            self._affine = self._make_affine()
            for part in self._affine:
                part.flags.writeable = False
        return self._affine

    def _make_affine(self) -> tuple[np.ndarray, np.ndarray]:
        if self.scale == "none":
            return np.ones(N_PIXELS, np.float32), np.zeros(N_PIXELS, np.float32)
        if self.scale == "unit":
            return np.full(N_PIXELS, 1 / 255, np.float32), np.zeros(N_PIXELS, np.float32)
        a = (1 / self.std_).astype(np.float32)
        return a, (-self.mean_ * a).astype(np.float32)

    # The three steps behind fit and transform.

    def _deskewed_rows(self, images) -> np.ndarray:
        batch = _as_batch(images)
        if not self.deskew:
            return batch.reshape(len(batch), N_PIXELS)
        # Rounded back to bytes: the model then sees the same kind of pixels whether an image was deskewed
        # here or anywhere else, and training can keep every image as uint8. Chunk by chunk, so that no
        # float copy of the whole set is ever made.
        rows = np.empty((len(batch), N_PIXELS), dtype=np.uint8)
        for start, straight in _deskewed_chunks(batch):
            np.rint(straight, out=straight)
            rows[start:start + len(straight)] = np.clip(straight, 0, 255, out=straight).reshape(-1, N_PIXELS)
        return rows

    def _fit_rows(self, rows: np.ndarray) -> None:
        if self.scale != "standard":
            return
        if len(rows) == 0:
            raise ValueError("Preparation(scale='standard') needs at least one training image to fit.")
        mean, variance = _pixel_mean_and_variance(rows)
        overall_variance = (variance + mean**2).mean() - mean.mean() ** 2     # of all pixels pooled
        floor = max(np.sqrt(overall_variance), 1.0)                           # 1.0: all-blank training images
        self._affine = None
        self.mean_ = mean.astype(np.float32)
        self.std_ = np.maximum(np.sqrt(variance), floor).astype(np.float32)

    def _scale_rows(self, rows: np.ndarray) -> np.ndarray:
        # The same a * pixel + b, in float32, that the training loop computes (see `affine`).
        a, b = self.affine()
        prepared = np.multiply(rows, a, dtype=np.float32)
        prepared += b
        return prepared


def _pixel_mean_and_variance(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column, in float64, a few thousand rows at a time (a float64 copy of 60,000 rows would be 376 MB)."""
    total = np.zeros(rows.shape[1])
    total_of_squares = np.zeros(rows.shape[1])
    for start in range(0, len(rows), 4096):
        part = rows[start:start + 4096].astype(np.float64)
        total += part.sum(axis=0)
        total_of_squares += np.einsum("ij,ij->j", part, part)
    mean = total / len(rows)
    return mean, np.maximum(total_of_squares / len(rows) - mean**2, 0.0)


def _saved_statistic(tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    value = tensors.get(name)
    if value is None:
        raise ModelFileError(f"The model file uses standard scaling but has no {name!r} tensor: retrain the model.")
    value = np.asarray(value)
    if value.shape != (N_PIXELS,) or value.dtype.kind != "f" or not np.isfinite(value).all():
        raise ModelFileError(f"The model file's {name!r} tensor must be {N_PIXELS} finite numbers (got shape "
                             f"{value.shape}, dtype {value.dtype}): retrain the model.")
    return np.ascontiguousarray(value, dtype=np.float32)


def _as_batch(images) -> np.ndarray:
    """View images as (N, 28, 28); accepts (N, 28, 28), (N, 784), (28, 28) or (784,)."""
    images = np.asarray(images)
    if images.shape in ((SIDE, SIDE), (N_PIXELS,)):
        return images.reshape(1, SIDE, SIDE)
    if images.ndim == 3 and images.shape[1:] == (SIDE, SIDE) or images.ndim == 2 and images.shape[1] == N_PIXELS:
        return images.reshape(len(images), SIDE, SIDE)
    raise ValueError(f"Expected images shaped (N, 28, 28) or (N, 784) (or one image), got shape {images.shape}.")


def deskew(images) -> np.ndarray:
    """Straighten digits by their second moments: the classic MNIST deskewing.

    Each digit is sheared along x by the amount that makes its principal axis vertical,
    alpha = cov(row, col) / var(row), and moved so that its centre of mass lands exactly on (14, 14): output
    pixel (r, c) reads the input, bilinearly, at (r + mean_row - 14, c + alpha * (r - 14) + mean_col - 14).
    That sub-pixel centring matters: MNIST centred its digits only to the nearest pixel, and a linear model
    scores about a point better (10 classes) when every digit sits on the same spot.

    The read position's row depends only on the output row, so the work splits into a vertical shift (the
    same fraction for every row of an image) and then one linear interpolation along each row, both
    vectorised over the batch.

    Parameters
    ----------
    images : array of shape (N, 28, 28) or (28, 28), values 0..255

    Returns
    -------
    ndarray of float32, the same shape, values 0..255. A blank image stays blank.
    """
    images = np.asarray(images)
    if images.ndim not in (2, 3) or images.shape[-2:] != (SIDE, SIDE):
        raise ValueError(f"deskew expects images shaped (N, 28, 28) or (28, 28), got shape {images.shape}.")
    batch = images.reshape(-1, SIDE, SIDE)
    straightened = np.empty(batch.shape, dtype=np.float32)
    for start, straight in _deskewed_chunks(batch):
        straightened[start:start + len(straight)] = straight
    return straightened.reshape(images.shape)


def _deskewed_chunks(batch: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (start, deskewed float32 images) for successive chunks of `batch` (N, 28, 28)."""
    # Rows padded with enough zeros on both sides that every read, however far it is shifted, stays in its row.
    padded = np.zeros((min(len(batch), _CHUNK) * SIDE, _SHEAR_PAD + SIDE + _SHEAR_PAD + 1), dtype=np.float32)
    for start in range(0, len(batch), _CHUNK):
        chunk = batch[start:start + _CHUNK]
        yield start, _deskew_chunk(chunk, padded[:len(chunk) * SIDE])


_SHEAR_PAD = SIDE + 1       # a row shifted further than this reads only zeros


def _deskew_chunk(images: np.ndarray, padded: np.ndarray) -> np.ndarray:
    """Deskew a chunk of images, using `padded` (zeros outside its middle 28 columns) as scratch space."""
    from numpy.lib.stride_tricks import sliding_window_view

    count = len(images)
    pixels = images.astype(np.float32)
    shear, mean_row, mean_col = _skew_of(pixels)
    pixels = _shift_rows(pixels, mean_row - CENTRE)
    # How far along x each output row reads: a whole number of pixels and a fraction, per (image, row).
    offset = (shear[:, None] * (np.arange(SIDE)[None, :] - CENTRE) + (mean_col - CENTRE)[:, None]).ravel()
    whole = np.floor(offset)
    fraction = (offset - whole).astype(np.float32)[:, None]
    whole = np.clip(whole, -_SHEAR_PAD, _SHEAR_PAD - 1).astype(np.intp)
    padded[:, _SHEAR_PAD:_SHEAR_PAD + SIDE] = pixels.reshape(count * SIDE, SIDE)
    # Each output row is a bilinear blend of the 29 input pixels starting where it reads: pick that window
    # per row (one fancy index over all rows of the chunk), then blend neighbours.
    windows = sliding_window_view(padded, SIDE + 1, axis=1)
    window = windows[np.arange(count * SIDE), _SHEAR_PAD + whole]                         # (count * 28, 29)
    left, right = window[:, :-1], window[:, 1:]
    return (left + fraction * (right - left)).reshape(count, SIDE, SIDE)


def _shift_rows(pixels: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Each image's rows read `shift` rows further down (bilinearly, zeros beyond the edge)."""
    count = len(pixels)
    whole = np.floor(shift)
    fraction = (shift - whole).astype(np.float32)[:, None, None]
    padded = np.zeros((count, 3 * SIDE + 1, SIDE), dtype=np.float32)   # a shift beyond 28 reads only zeros
    padded[:, SIDE:2 * SIDE] = pixels
    first = (SIDE + np.clip(whole, -SIDE, SIDE).astype(np.intp))[:, None] + np.arange(SIDE)[None, :]
    upper = np.take_along_axis(padded, first[:, :, None], axis=1)
    lower = np.take_along_axis(padded, first[:, :, None] + 1, axis=1)
    return upper + fraction * (lower - upper)


def _skew_of(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: the shear that makes it upright (cov(row, col) / var(row)), its mean row and mean column.

    The sums run in float32 about the image centre (seven digits are plenty for a slant); only the final
    per-image divisions run in float64.
    """
    centred = np.arange(SIDE, dtype=np.float32) - (SIDE - 1) / 2
    row_mass = pixels.sum(axis=2)                          # (N, 28): ink per row
    row_moment = pixels @ centred                          # (N, 28): sum over each row of ink * column
    total = row_mass.sum(axis=1, dtype=np.float64)
    blank = total <= 0
    total[blank] = 1.0                                     # blank images: no shear, no NaN
    mean_row = (row_mass @ centred) / total
    mean_col = row_moment.sum(axis=1, dtype=np.float64) / total
    var_row = (row_mass @ centred**2) / total - mean_row**2
    cov = (row_moment @ centred) / total - mean_row * mean_col
    flat = blank | (var_row < 1e-6)                        # a horizontal line has no slant to remove
    shear = np.where(flat, 0.0, cov / np.where(flat, 1.0, var_row))
    mean_row = np.where(blank, CENTRE, mean_row + (SIDE - 1) / 2)   # blank images: nothing to move
    mean_col = np.where(blank, CENTRE, mean_col + (SIDE - 1) / 2)
    return shear, mean_row, mean_col


# ---- augmentation: the "more data" lever ------------------------------------------------------------------


def augment(images, copies: int, rng: np.random.Generator, *, max_shift: float = 2, max_rotate: float = 10.0,
            max_scale: float = 0.1, elastic: bool = False, elastic_alpha: float = 34.0,
            elastic_sigma: float = 4.0) -> np.ndarray:
    """Random variants of each image: shifted, rotated, scaled, and optionally elastically distorted.

    Parameters
    ----------
    images : array of shape (N, 28, 28) or (N, 784), values 0..255
    copies : int
        How many variants of each image.
    rng : numpy.random.Generator
        The only source of randomness: the same generator state gives the same variants.
    max_shift : float
        Largest shift in pixels along each axis (uniform in [-max_shift, max_shift]).
    max_rotate : float
        Largest rotation in degrees, either way.
    max_scale : float
        Largest relative change of size (the scale is uniform in [1 - max_scale, 1 + max_scale]).
    elastic : bool
        Add Simard et al.'s (2003) elastic distortion: a random displacement field smoothed by a Gaussian
        of width `elastic_sigma` pixels and multiplied by `elastic_alpha`.

    Returns
    -------
    ndarray of uint8, shape (N * copies, 28, 28), image-major: [image 0 copy 0, image 0 copy 1, ...], so the
    labels of the copies are ``np.repeat(labels, copies)``.
    """
    if not isinstance(copies, (int, np.integer)) or copies < 0:
        raise ValueError(f"The 'copies' parameter of augment must be an integer >= 0. Got {copies!r} instead.")
    batch = _as_batch(images)
    variants = np.empty((len(batch) * copies, SIDE, SIDE), dtype=np.uint8)
    source_of = np.repeat(np.arange(len(batch)), copies)
    for start in range(0, len(variants), _WARP_CHUNK):
        sources = source_of[start:start + _WARP_CHUNK]
        first, last = sources[0], sources[-1] + 1   # the source images this chunk reads
        variants[start:start + len(sources)] = _warp_chunk(
            batch[first:last], sources - first, rng, max_shift, max_rotate, max_scale,
            elastic_alpha if elastic else 0.0, elastic_sigma)
    return variants


def _warp_chunk(images, sources, rng, max_shift, max_rotate, max_scale, elastic_alpha, elastic_sigma):
    """Warp images[sources[i]] into variant i with one bilinear map_coordinates call over the whole chunk."""
    from scipy import ndimage

    count = len(sources)
    angle = np.deg2rad(rng.uniform(-max_rotate, max_rotate, count))
    scale = rng.uniform(1 - max_scale, 1 + max_scale, count)
    shift = rng.uniform(-max_shift, max_shift, (2, count))
    # Where each output pixel reads in its source: the inverse of "scale and rotate about the centre, then
    # shift". Coordinates are float32 (map_coordinates takes them as they are), relative to the centre.
    cos = (np.cos(angle) / scale).astype(np.float32)[:, None, None]
    sin = (np.sin(angle) / scale).astype(np.float32)[:, None, None]
    grid = np.arange(SIDE, dtype=np.float32) - np.float32(MNIST_CENTRE)
    from_centre_row = grid[None, :, None] - shift[0, :, None, None].astype(np.float32)   # (count, 28, 1)
    from_centre_col = grid[None, None, :] - shift[1, :, None, None].astype(np.float32)   # (count, 1, 28)
    reads = np.empty((2, count, SIDE, SIDE), dtype=np.float32)
    read_row, read_col = reads
    np.subtract(cos * from_centre_row, sin * from_centre_col, out=read_row)
    np.add(sin * from_centre_row, cos * from_centre_col, out=read_col)
    if elastic_alpha:
        noise = rng.random((2 * count, SIDE, SIDE), dtype=np.float32) * 2 - 1        # uniform in [-1, 1)
        field = _smoothed(noise, elastic_sigma)
        reads += np.float32(elastic_alpha) * field.reshape(2, count, SIDE, SIDE)
    # Stack the sources as one tall image, each framed by zeros. Clipping every read into its own frame makes
    # whatever lies outside the digit read as blank and keeps neighbouring images from bleeding into it.
    framed = np.zeros((len(images), SIDE + 2, SIDE + 2), dtype=np.float32)
    framed[:, 1:-1, 1:-1] = images
    tall = framed.reshape(-1, SIDE + 2)
    np.clip(reads, -1 - MNIST_CENTRE, SIDE - MNIST_CENTRE, out=reads)
    reads += np.float32(MNIST_CENTRE + 1)
    read_row += (sources * (SIDE + 2)).astype(np.float32)[:, None, None]
    warped = ndimage.map_coordinates(tall, reads, order=1, output=np.float32)
    return np.clip(np.rint(warped), 0, 255).astype(np.uint8)


def _smoothed(fields: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-blur each 28x28 field (zeros outside), as matrix products instead of a 33-tap filter.

    Blurring along one axis is multiplying by a fixed 28x28 matrix, the filter's response to each unit
    impulse: blur @ field @ blur.T blurs both axes. A few times faster than scipy.ndimage.gaussian_filter over
    the stack, with the same result. (Many small products rather than one big one: the big one makes the
    BLAS library start threads, which costs more than it gains at this size.)
    """
    from scipy import ndimage

    blur = ndimage.gaussian_filter1d(np.eye(SIDE, dtype=np.float32), sigma, axis=0, mode="constant")
    return blur @ fields @ blur.T


def augment_batches(images, labels, copies: int, rng: np.random.Generator, chunk: int = 10000,
                    **options) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stream `augment`'s copies of every image in chunks of at most `chunk` images, so memory stays bounded.

    Yields (copies uint8 (M, 28, 28), their labels (M,)), covering each image's `copies` variants exactly
    once, in the order of `images`. `options` are `augment`'s keywords.
    """
    batch, labels = _as_batch(images), np.asarray(labels)
    if len(labels) != len(batch):
        raise ValueError(f"Got {len(batch)} images but {len(labels)} labels; they must be the same count.")
    if copies == 0:
        return
    per_chunk = max(1, chunk // copies)
    for start in range(0, len(batch), per_chunk):
        stop = start + per_chunk
        yield augment(batch[start:stop], copies, rng, **options), np.repeat(labels[start:stop], copies)


# ---- any picture -> an MNIST-style 28x28 digit ------------------------------------------------------------

NOISE_FLOOR = 0.15          # of the ink's contrast: fainter pixels count as background ...
NOISE_SIGMAS = 4.0          # ... and so do those within 4 standard deviations of the border's noise
MIN_CONTRAST = 24           # grey levels between background and ink below which a picture counts as blank
SPECK_FRACTION = 0.02       # ink blobs smaller than this share of the largest are specks, not digit
INK_THRESHOLD = 0.5         # of the ink's contrast: where a stroke's edge is, to measure its width
MIN_STROKE = 1.0            # MNIST strokes (measured as below) are 1.1-3 px wide, median 2; thinner ones ...
TARGET_STROKE = 2.0         # ... (a pen photographed on a whole page) are thickened to about the median
WORKING_SIDE = 1024         # bigger pictures are first shrunk (box filter) to about this longer side


def image_to_mnist(source) -> np.ndarray:
    """Turn a picture of a digit into a 28x28 MNIST-style image (uint8, ink bright on dark).

    MNIST's own preparation: grey; ink bright on a dark background (dark-on-light pictures, told by their
    border, are inverted; transparent pixels are background); cropped to the ink; the longer side fitted into
    20 pixels keeping the aspect ratio; placed in 28x28 with its centre of mass at the centre. Strokes too thin
    to survive the shrinking (a pen photographed whole) are thickened to MNIST's usual width first.

    Parameters
    ----------
    source : str, Path, bytes, PIL.Image.Image, "data:image/...;base64,..." URL, or ndarray
        A file, its bytes, an image, a data URL, or pixels (H, W), (H, W, 3) or (H, W, 4) in 0..255.

    Raises
    ------
    ImageError
        Not an image, empty, too large, damaged, or without any ink; one line naming the file.
    """
    from PIL import Image

    label = _describe(source)
    image = load_image(source)
    grey = _grey_ink_bright(image, label)
    if isinstance(image, Image.Image) and image is not source:
        image.close()
    ink = _normalise_ink(grey, label)
    digit = _crop_to_ink(ink)
    box = _fit_into_box(digit)
    return _place_by_centre_of_mass(box)


def load_image(source):
    """Open `source` (see `image_to_mnist`) as a decoded PIL image, refusing what is not a safe, readable image."""
    from PIL import Image

    label = _describe(source)
    if isinstance(source, Image.Image):
        return _loaded(lambda: source, label)
    if isinstance(source, np.ndarray):
        return _array_to_image(source, label)
    data = _read_bytes(source, label)
    return _loaded(lambda: Image.open(io.BytesIO(data)), label)


def _describe(source) -> str:
    """How error messages name the source: the file's path when there is one."""
    if isinstance(source, str) and source.startswith("data:"):
        return "the data URL"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "the uploaded data"
    if isinstance(source, np.ndarray):
        return "the pixel array"
    return "the image"


def _read_bytes(source, label: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, str) and source.startswith("data:"):
        data = _data_url_bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{label} does not exist: check the path.")
        if path.is_dir():
            raise ImageError(f"{label} is a directory, not an image file.")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ImageError(f"{label} cannot be read ({error.strerror or error}).") from None
    else:
        raise TypeError(f"image_to_mnist takes a path, bytes, a data URL, a PIL image or an array, "
                        f"not {type(source).__name__}.")
    if not data:
        raise ImageError(f"{label} is empty (0 bytes): it is not an image.")
    return data


def _data_url_bytes(url: str) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma:
        raise ImageError("the data URL has no ',' before its data: expected data:image/png;base64,...")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ImageError("the data URL's base64 data is damaged: send the image again.") from None
    return urllib.parse.unquote_to_bytes(payload)


def _loaded(open_image, label: str):
    """Open (lazily: only the header is read), check the size, then decode; every failure is an ImageError."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    not_an_image = f"{label} is not an image Pillow can read (PNG, JPEG, BMP, GIF, ...)."
    too_large = (f"{label} is too large to decode safely (over {MAX_PIXELS // 1_000_000} megapixels): "
                 "use a smaller picture.")
    with warnings.catch_warnings():
        # Pillow warns about, then refuses, pictures whose header claims a huge size: both are refusals here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = open_image()
            _check_size(image.size, label)
            image = ImageOps.exif_transpose(image)     # phone photos: apply the camera's rotation
            image.load()
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(too_large) from None
        except UnidentifiedImageError:
            raise ImageError(not_an_image) from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as error:
            raise ImageError(f"{label} is damaged or truncated ({_one_line(error)}).") from None
    return image


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _check_size(size: tuple[int, int], label: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"{label} has zero size ({width}x{height} pixels): it holds no picture.")
    if width * height > MAX_PIXELS:
        raise ImageError(f"{label} is too large ({width}x{height} pixels; the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels): use a smaller picture.")


def _array_to_image(array: np.ndarray, label: str):
    from PIL import Image

    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or array.ndim == 3 and array.shape[2] in (3, 4)):
        raise ImageError(f"{label} must be shaped (H, W), (H, W, 3) or (H, W, 4); got {array.shape}.")
    _check_size((array.shape[1], array.shape[0]), label)
    if array.dtype.kind not in "biuf" or not np.isfinite(array).all():
        raise ImageError(f"{label} must hold finite numbers 0..255 (got dtype {array.dtype}).")
    pixels = np.clip(array.astype(np.float32) * (255 if array.dtype.kind == "b" else 1), 0, 255)
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[2] if pixels.ndim == 3 else 2]
    return Image.fromarray(np.rint(pixels).astype(np.uint8), mode=mode)


def _grey_ink_bright(image, label: str) -> np.ndarray:
    """The picture as float32 grey levels 0..255 with the ink bright on a dark background."""
    grey, alpha = _grey_and_alpha(image)
    if alpha is not None and alpha.min() < 255:
        grey = _composite_transparency(grey, alpha)
    if np.median(_border(grey)) > 127.5:            # dark ink on light paper: make the ink the bright part
        grey = 255 - grey
    return grey


def _grey_and_alpha(image) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey levels (and the alpha channel, if any), shrunk first when the picture is big."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):     # 16-bit and float greys: rescale to 0..255
        image = _shrunk(image)
        pixels = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(pixels.max()), 255.0)
        return pixels * (255.0 / top), None
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        image = image.convert("RGBA").convert("LA")
    elif image.mode != "L":
        image = image.convert("RGB").convert("L")    # via RGB: palettes and CMYK are resolved to colours first
    pixels = np.asarray(_shrunk(image), dtype=np.float32)
    if has_alpha:
        return pixels[:, :, 0], pixels[:, :, 1]
    return pixels, None


def _shrunk(image):
    """Box-shrink big pictures by a whole factor: the digit ends up 20 pixels tall, ~1024 is plenty to start."""
    factor = max(image.size) // WORKING_SIDE
    return image.reduce(factor) if factor >= 2 else image


def _composite_transparency(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Lay a partly transparent picture on a background that contrasts with its opaque (ink) pixels.

    Transparent pixels are background: a canvas with a transparent background and black ink becomes black
    on white, one with white ink becomes white on black.
    """
    opacity = alpha / 255
    weight = opacity.sum()
    if weight == 0:
        return np.zeros_like(grey)                  # fully transparent: nothing drawn
    ink_level = float((grey * opacity).sum() / weight)
    background = 255.0 if ink_level < 127.5 else 0.0
    return grey * opacity + background * (1 - opacity)


def _border(grey: np.ndarray) -> np.ndarray:
    """The pixels of a thin band (2% of the shorter side, at least one pixel) along the picture's edges."""
    band = max(1, min(grey.shape) // 50)
    if min(grey.shape) <= 2 * band:
        return grey.ravel()
    return np.concatenate([grey[:band].ravel(), grey[-band:].ravel(),
                           grey[band:-band, :band].ravel(), grey[band:-band, -band:].ravel()])


def _normalise_ink(grey: np.ndarray, label: str) -> np.ndarray:
    """Ink strength 0..1: the background (the border's median) at 0, the strongest ink at 1, noise removed.

    What counts as noise adapts to the picture: a clean drawing keeps its faint antialiased edges (they set
    MNIST's 20 pixel box), a grainy photo loses everything within a few standard deviations of its paper.
    """
    border = _border(grey)
    background = float(np.median(border))
    contrast = float(grey.max()) - background
    if contrast < MIN_CONTRAST:
        raise ImageError(f"{label} has no ink: draw or photograph a digit (dark on light or light on dark).")
    noise = 1.4826 * float(np.median(np.abs(border - background)))   # robust standard deviation
    floor = max(NOISE_FLOOR, NOISE_SIGMAS * noise / contrast)
    ink = np.clip((grey - background) / contrast, 0, 1)
    ink[ink < floor] = 0
    return ink


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """Cut the picture down to the digit: the box around every sizeable blob of ink, specks removed.

    Thin strokes are thickened here (a grey dilation) when fitting the box into 20 pixels would leave them
    thinner than MNIST's: a pen digit photographed on a whole page would otherwise fade to a faint hairline.
    """
    from scipy import ndimage

    blobs = _sizeable_blobs(ink > 0)
    top, bottom, left, right = _bounding_box(blobs)
    digit = ink[top:bottom, left:right] * blobs[top:bottom, left:right]
    digit /= digit.max()
    scale = MNIST_BOX / max(digit.shape)
    stroke = _stroke_width(digit > INK_THRESHOLD) * scale
    if stroke >= MIN_STROKE:
        return digit
    grow = round((TARGET_STROKE - stroke) / scale)
    if grow < 1:
        return digit
    thick = ndimage.grey_dilation(np.pad(digit, grow), size=(grow + 1, grow + 1))
    top, bottom, left, right = _bounding_box(thick > 0)
    return thick[top:bottom, left:right]


def _sizeable_blobs(mask: np.ndarray) -> np.ndarray:
    """The mask without specks: blobs (8-connected) smaller than SPECK_FRACTION of the largest one."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= SPECK_FRACTION * sizes.max()
    return keep[labels]


def _bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), bottom and right exclusive, of the True pixels."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary drawing: twice its area over its outline.

    A stroke of width w and length L covers about wL pixels and has about 2L outline pixels.
    """
    from scipy import ndimage

    outline = mask & ~ndimage.binary_erosion(mask)
    return 2.0 * float(mask.sum()) / max(int(outline.sum()), 1)


def _fit_into_box(digit: np.ndarray) -> np.ndarray:
    """Resize so the longer side is 20 pixels, keeping the aspect ratio; the strongest ink becomes 1.

    Shrinking averages each output pixel's area (a box filter: the antialiasing MNIST shows, and unlike
    Lanczos it leaves no faint ringing around the strokes); the rare enlargement is bilinear.
    """
    from PIL import Image

    height, width = digit.shape
    scale = MNIST_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(digit.astype(np.float32), mode="F").resize(size, method)
    box = np.clip(np.asarray(resized, dtype=np.float32), 0, None)
    return box / box.max()


def _place_by_centre_of_mass(box: np.ndarray) -> np.ndarray:
    """Put the box into a blank 28x28 so that its centre of mass lands on MNIST's centre (to a whole pixel,
    as MNIST did; a box too lopsided to fit is kept inside the frame instead)."""
    height, width = box.shape
    total = box.sum()
    centre_row = float(box.sum(axis=1) @ np.arange(height)) / total
    centre_col = float(box.sum(axis=0) @ np.arange(width)) / total
    top = int(np.clip(round(MNIST_CENTRE - centre_row), 0, SIDE - height))
    left = int(np.clip(round(MNIST_CENTRE - centre_col), 0, SIDE - width))
    placed = np.zeros((SIDE, SIDE), dtype=np.uint8)
    placed[top:top + height, left:left + width] = np.rint(box * 255).astype(np.uint8)
    return placed
