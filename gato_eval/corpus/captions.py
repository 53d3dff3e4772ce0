"""The image-caption set: procedurally generated scenes of coloured shapes, with true captions.

Gato's vision-language data (ALIGN, COCO, LTIP, ..., Sec. 3.1) cannot be downloaded here, so the
project renders its own: a 64x64 RGB image of one or two shapes (circle, square, triangle; small
or large; nine colours) on a plain background, and a caption that states what is there and where:

    "a small red circle above a large blue square against a grey background"
    "a large green triangle in the top left corner against an orange background"

Example `index` of the set with `seed` is a pure function of (seed, index, size): nothing is
stored, any example can be rendered on demand in about 0.1 ms, and the set is as large as asked
(`CaptionSet.num_examples`). Shapes never overlap, a shape never shares its background's colour,
and the stated relation (above, below, to the left of, to the right of) is the dominant axis
between the centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gato_eval.core.errors import GatoEvalError

CAPTIONS_VERSION = 1
DEFAULT_IMAGE_SIZE = 64
PALETTE = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 215, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "grey": (128, 128, 128),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 0.09, "large": 0.17}  # half-extent as a fraction of the image side


@dataclass(frozen=True)
class CaptionExample:
    """image: uint8 (size, size, 3); caption: lower-case English, no final full stop."""

    image: np.ndarray
    caption: str


@dataclass(frozen=True)
class CaptionSet:
    """`num_examples` scenes rendered on demand from `seed` (example i is the same every time)."""

    num_examples: int = 100_000
    seed: int = 0
    image_size: int = DEFAULT_IMAGE_SIZE

    def __post_init__(self) -> None:
        if self.num_examples < 1:
            raise GatoEvalError(f"a caption set needs >= 1 example, got {self.num_examples}")
        if self.image_size < 16 or self.image_size % 16:
            raise GatoEvalError(
                f"caption image size must be a multiple of 16, got {self.image_size}"
            )

    def __len__(self) -> int:
        return self.num_examples

    def __getitem__(self, index: int) -> CaptionExample:
        if not 0 <= index < self.num_examples:
            raise IndexError(f"caption example {index} outside [0, {self.num_examples})")
        return render_caption_example(self.seed, index, self.image_size)

    def captions(self, limit: int | None = None) -> list[str]:
        """The captions of the first `limit` examples (all by default), e.g. for SentencePiece."""
        count = self.num_examples if limit is None else min(limit, self.num_examples)
        return [describe_scene(*_draw_scene(self.seed, i)) for i in range(count)]

    def provenance(self) -> dict:
        return {
            "generator_version": CAPTIONS_VERSION,
            "num_examples": self.num_examples,
            "seed": self.seed,
            "image_size": self.image_size,
        }


@dataclass(frozen=True)
class Shape:
    """One shape: centre (x, y) and half-extent r as fractions of the image side."""

    kind: str
    colour: str
    size: str
    x: float
    y: float

    @property
    def radius(self) -> float:
        return SIZES[self.size]


def render_caption_example(seed: int, index: int, size: int = DEFAULT_IMAGE_SIZE) -> CaptionExample:
    """Example `index` of the caption set `seed`: its image (uint8 (size, size, 3)) and caption."""
    background, shapes = _draw_scene(seed, index)
    return CaptionExample(
        image=render_scene(background, shapes, size), caption=describe_scene(background, shapes)
    )


def _draw_scene(seed: int, index: int) -> tuple[str, list[Shape]]:
    # One generator per example: example i never depends on how many others were drawn.
    rng = np.random.default_rng([CAPTIONS_VERSION, seed, index])
    colours = list(PALETTE)
    background = colours[int(rng.integers(len(colours)))]
    shape_colours = [c for c in colours if c != background]
    count = int(rng.integers(1, 3))
    shapes: list[Shape] = []
    while len(shapes) < count:
        size = ("small", "large")[int(rng.integers(2))]
        r = SIZES[size]
        x, y = (float(v) for v in rng.uniform(r + 0.02, 1 - r - 0.02, size=2))
        candidate = Shape(
            kind=SHAPES[int(rng.integers(len(SHAPES)))],
            colour=shape_colours[int(rng.integers(len(shape_colours)))],
            size=size,
            x=x,
            y=y,
        )
        if all(_apart(candidate, other) for other in shapes):
            shapes.append(candidate)
    return background, shapes


def _apart(a: Shape, b: Shape) -> bool:
    # Separated bounding boxes with a margin, and a clear dominant axis for the relation word.
    dx, dy = abs(a.x - b.x), abs(a.y - b.y)
    gap = a.radius + b.radius + 0.04
    return max(dx, dy) > gap and abs(dx - dy) > 0.05


def render_scene(background: str, shapes: list[Shape], size: int) -> np.ndarray:
    """Rasterize the scene: uint8 (size, size, 3). Pixel centres sample the shape masks."""
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = PALETTE[background]
    coords = (np.arange(size) + 0.5) / size
    ys, xs = np.meshgrid(coords, coords, indexing="ij")  # (size, size) each
    for shape in shapes:
        dx, dy, r = xs - shape.x, ys - shape.y, shape.radius
        if shape.kind == "circle":
            mask = dx**2 + dy**2 <= r**2
        elif shape.kind == "square":
            mask = (np.abs(dx) <= r) & (np.abs(dy) <= r)
        else:  # an upright triangle: apex at the top, base at the bottom of its box
            depth = (dy + r) / (2 * r)  # 0 at the apex, 1 at the base
            mask = (depth >= 0) & (depth <= 1) & (np.abs(dx) <= r * depth)
        image[mask] = PALETTE[shape.colour]
    return image


def describe_scene(background: str, shapes: list[Shape]) -> str:
    """The caption: one shape with its place, or two shapes with their relation."""
    first = _noun_phrase(shapes[0])
    if len(shapes) == 1:
        return f"{first} {_place(shapes[0])} against {_with_article(background)} background"
    second = _noun_phrase(shapes[1])
    relation = _relation(shapes[0], shapes[1])
    return f"{first} {relation} {second} against {_with_article(background)} background"


def _noun_phrase(shape: Shape) -> str:
    return f"a {shape.size} {shape.colour} {shape.kind}"


def _with_article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _relation(a: Shape, b: Shape) -> str:
    dx, dy = a.x - b.x, a.y - b.y  # image y grows downwards
    if abs(dy) >= abs(dx):
        return "above" if dy < 0 else "below"
    return "to the left of" if dx < 0 else "to the right of"


def _place(shape: Shape) -> str:
    row = "top" if shape.y < 1 / 3 else "bottom" if shape.y > 2 / 3 else ""
    col = "left" if shape.x < 1 / 3 else "right" if shape.x > 2 / 3 else ""
    if row and col:
        return f"in the {row} {col} corner"
    if row:
        return f"at the {row}"
    if col:
        return f"on the {col}"
    return "in the centre"
