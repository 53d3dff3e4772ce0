"""Procedural prose: sentences from a small grammar about agents, objects, colours, places,
counting and arithmetic (the vocabulary of captions and BabyAI missions), the `procedural`
source of the no-control text corpus (`gato_eval.corpus.text`). Reproducible from the seed alone.
"""

from __future__ import annotations

import numpy as np

PROCEDURAL_VERSION = 1
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "grey", "white", "black")
OBJECTS = ("ball", "box", "key", "door", "circle", "square", "triangle", "block", "cup", "paddle")
PLACES = (
    "on the left",
    "on the right",
    "at the top",
    "at the bottom",
    "in the middle",
    "near the wall",
    "in the corner",
    "behind the door",
    "next to the table",
)
AGENTS = ("the agent", "the robot", "the player", "the arm", "a small robot", "the walker")
VERBS = (
    "picks up",
    "pushes",
    "opens",
    "moves toward",
    "looks at",
    "drops",
    "reaches for",
    "follows",
    "avoids",
    "puts down",
)
NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
)


def generate_procedural_paragraphs(seed: int, max_characters: int) -> list[str]:
    """Paragraphs of three to six generated sentences, about `max_characters` in all.

    Deterministic from `seed` alone (the generator is versioned as PROCEDURAL_VERSION).
    """
    rng = np.random.default_rng([seed, 0x7E47])
    paragraphs: list[str] = []
    used = 0
    while used < max_characters:
        count = int(rng.integers(3, 7))
        paragraph = " ".join(_procedural_sentence(rng) for _ in range(count))
        paragraphs.append(paragraph)
        used += len(paragraph)
    return paragraphs


def _procedural_sentence(rng: np.random.Generator) -> str:
    def pick(options):
        return options[int(rng.integers(len(options)))]

    kind = int(rng.integers(6))
    if kind == 0:
        sentence = f"{pick(AGENTS)} {pick(VERBS)} the {pick(COLOURS)} {pick(OBJECTS)}"
    elif kind == 1:
        sentence = f"there is a {pick(COLOURS)} {pick(OBJECTS)} {pick(PLACES)}"
    elif kind == 2:
        a, b = (int(x) for x in rng.integers(0, 11, size=2))
        sentence = f"{NUMBER_WORDS[a]} plus {NUMBER_WORDS[b]} is {NUMBER_WORDS[a + b]}"
    elif kind == 3:
        n = int(rng.integers(2, 10))
        noun = pick(OBJECTS)
        plural = noun + ("es" if noun.endswith(("x", "s")) else "s")
        sentence = f"{pick(AGENTS)} sees {NUMBER_WORDS[n]} {pick(COLOURS)} {plural}"
    elif kind == 4:
        first, second = pick(OBJECTS), pick(OBJECTS)
        sentence = (
            f"the {pick(COLOURS)} {first} is {pick(('above', 'below', 'left of', 'right of'))} "
            f"the {pick(COLOURS)} {second}"
        )
    else:
        sentence = (
            f"if {pick(AGENTS)} {pick(VERBS)} the {pick(OBJECTS)}, "
            f"then {pick(AGENTS)} {pick(VERBS)} the {pick(COLOURS)} {pick(OBJECTS)}"
        )
    return sentence[0].upper() + sentence[1:] + "."
