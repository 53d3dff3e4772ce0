"""The no-control data: the text corpus and the procedural image-caption set."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from gato_eval.core.errors import GatoEvalError
from gato_eval.corpus.captions import PALETTE, CaptionSet, render_caption_example
from gato_eval.corpus.procedural_text import generate_procedural_paragraphs
from gato_eval.corpus.text import build_text_corpus, load_text_corpus, split_prose_paragraphs

# --- text corpus ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus():
    return build_text_corpus(max_characters=400_000, seed=3)


def test_corpus_has_every_source_within_budget(corpus):
    prov = corpus.provenance()
    assert set(prov["sources"]) == {"stdlib", "packages", "procedural"}
    assert all(info["documents"] > 0 for info in prov["sources"].values())
    assert 0.95 * 400_000 <= corpus.num_characters <= 400_000
    # Real prose comes first: generated text only fills what the real sources leave.
    real = prov["sources"]["stdlib"]["characters"] + prov["sources"]["packages"]["characters"]
    assert real >= prov["sources"]["procedural"]["characters"]
    assert prov["sha256"] == corpus.digest() and len(prov["sha256"]) == 64


def test_corpus_is_prose_without_code_or_markup(corpus):
    for doc in corpus.documents:
        assert ">>>" not in doc and "``" not in doc and "http://" not in doc
        assert len(doc.split()) >= 8 and doc.isascii()
        assert "\n" not in doc and "  " not in doc


def test_corpus_is_deterministic_from_seed(corpus):
    again = build_text_corpus(max_characters=400_000, seed=3)
    assert again.documents == corpus.documents
    other = build_text_corpus(max_characters=400_000, seed=4)
    assert other.digest() != corpus.digest()


def test_split_prose_paragraphs_drops_code_tables_and_short_lines():
    text = (
        "Return the :func:`frobnicated` value of ``x``, computed *exactly* as the paper did it.\n"
        "\n"
        ">>> frob(3)\n9\n"
        "\n"
        "Parameters\n----------\n"
        "\n"
        "    indented literal block that is code and must never be kept here at all\n"
        "\n"
        "Too short.\n"
        "\n"
        "A long line that keeps the socket option SO_REUSEPORT and the AF_INET family names.\n"
    )
    assert split_prose_paragraphs(text) == [
        "Return the frobnicated value of x, computed exactly as the paper did it.",
        "A long line that keeps the socket option SO_REUSEPORT and the AF_INET family names.",
    ]


def test_procedural_text_is_grammatical_and_seeded():
    paragraphs = generate_procedural_paragraphs(seed=1, max_characters=5_000)
    assert paragraphs == generate_procedural_paragraphs(seed=1, max_characters=5_000)
    assert paragraphs != generate_procedural_paragraphs(seed=2, max_characters=5_000)
    sentences = [s for p in paragraphs for s in re.split(r"(?<=\.) ", p)]
    assert all(s[0].isupper() and s.endswith(".") for s in sentences)
    for sentence in sentences:  # the arithmetic is right
        match = re.match(r"(\w+) plus (\w+) is (\w+)\.", sentence)
        if match:
            from gato_eval.corpus.procedural_text import NUMBER_WORDS

            a, b, total = (NUMBER_WORDS.index(w.lower()) for w in match.groups())
            assert a + b == total
    assert not any("boxs" in p for p in paragraphs)


def test_unknown_source_is_a_user_error():
    with pytest.raises(GatoEvalError, match="unknown text sources"):
        build_text_corpus(sources=("wikipedia",))


def test_corpus_cache_round_trips_and_rebuilds_when_corrupt(tmp_path):
    first = load_text_corpus(
        max_characters=20_000, seed=0, sources=("procedural",), cache_dir=tmp_path
    )
    (cached,) = tmp_path.glob("text-*.json.gz")
    assert (
        load_text_corpus(
            max_characters=20_000, seed=0, sources=("procedural",), cache_dir=tmp_path
        ).documents
        == first.documents
    )
    with gzip.open(cached, "wt") as handle:  # a valid gzip with a tampered document list
        handle.write(
            '{"format_version": 1, "seed": 0, "sources": {}, "sha256": "x", '
            '"documents": ["tampered"]}'
        )
    rebuilt = load_text_corpus(
        max_characters=20_000, seed=0, sources=("procedural",), cache_dir=tmp_path
    )
    assert rebuilt.documents == first.documents
    cached.write_bytes(b"not gzip at all")
    assert (
        load_text_corpus(
            max_characters=20_000, seed=0, sources=("procedural",), cache_dir=tmp_path
        ).digest()
        == first.digest()
    )


# --- image-caption set ------------------------------------------------------------------------


def _colour_mask(image: np.ndarray, colour: str) -> np.ndarray:
    return np.all(image == np.array(PALETTE[colour], dtype=np.uint8), axis=-1)


def _parse(caption: str):
    shape = r"a (small|large) (\w+) (circle|square|triangle)"
    two = re.fullmatch(
        rf"{shape} (above|below|to the left of|to the right of) {shape} against an? (\w+) "
        r"background",
        caption,
    )
    if two:
        g = two.groups()
        return [g[0:3], g[4:7]], g[3], g[7]
    one = re.fullmatch(rf"{shape} (.+) against an? (\w+) background", caption)
    assert one, caption
    g = one.groups()
    return [g[0:3]], g[3], g[4]


def test_captions_describe_their_images():
    """Every stated colour, shape, size and relation can be read back from the pixels."""
    captions = CaptionSet(num_examples=300, seed=5)
    fill_ratio = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}
    for index in range(len(captions)):
        example = captions[index]
        assert example.image.shape == (64, 64, 3) and example.image.dtype == np.uint8
        shapes, relation, background = _parse(example.caption)
        assert _colour_mask(example.image, background)[[0, 0, -1, -1], [0, -1, 0, -1]].any()
        colours = [colour for _, colour, _ in shapes]
        for size, colour, kind in shapes:
            assert colour != background
            if colours.count(colour) > 1:
                continue  # two shapes of one colour: their masks merge; checked below by count
            ys, xs = np.nonzero(_colour_mask(example.image, colour))
            box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
            assert abs(len(ys) / box - fill_ratio[kind]) < 0.15, (example.caption, kind)
            side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
            assert (side < 16) == (size == "small"), (example.caption, side)
        if len(shapes) == 2 and colours[0] != colours[1]:
            (y0, x0), (y1, x1) = (
                np.argwhere(_colour_mask(example.image, c)).mean(axis=0) for c in colours
            )
            expected = {
                "above": y0 < y1,
                "below": y0 > y1,
                "to the left of": x0 < x1,
                "to the right of": x0 > x1,
            }[relation]
            assert expected, example.caption


def test_caption_examples_are_pure_functions_of_seed_and_index():
    a = render_caption_example(seed=7, index=123)
    b = CaptionSet(seed=7)[123]
    assert a.caption == b.caption and np.array_equal(a.image, b.image)
    assert CaptionSet(seed=8)[123].caption != a.caption or not np.array_equal(
        CaptionSet(seed=8)[123].image, a.image
    )
    assert CaptionSet(num_examples=50, seed=7).captions(3) == [
        CaptionSet(seed=7)[i].caption for i in range(3)
    ]
    assert render_caption_example(seed=7, index=1, size=32).image.shape == (32, 32, 3)


def test_caption_set_rejects_bad_sizes():
    with pytest.raises(GatoEvalError, match="multiple of 16"):
        CaptionSet(image_size=60)
    with pytest.raises(GatoEvalError, match=">= 1 example"):
        CaptionSet(num_examples=0)
    with pytest.raises(IndexError):
        CaptionSet(num_examples=2)[2]
