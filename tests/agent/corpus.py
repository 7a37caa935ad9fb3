"""A small synthetic text corpus for training test tokenizers."""

import random

WORDS = "go to the kitchen then find a chair near table walk past sofa bedroom door open stairs lamp".split()


def sentences_with_locations(n: int, seed: int = 0, max_words: int = 10) -> list[str]:
    """``n`` sentences of 3..``max_words`` words from ``WORDS``, each ending in three location tokens."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, max_words)))
        + f" <loc{rng.randrange(64)}><loc{rng.randrange(64)}><loc{rng.randrange(64)}>."
        for _ in range(n)
    ]
