"""python -m training.common_words --data ../shared/data/qa [--out rag/common_words.txt]

The words that are common words, not names, learned from running text: a word written in lower case inside sentences
at least twice and more often than with a capital (the PIAF and SQuAD 2.0 training articles and the questions
people asked of them; the dev split's articles, on which the check is measured, are left out). The check (rag/verify.py) reads the list for a sentence's
opening word, whose capital says nothing: "Pendant douze ans…", "Because of…", "Grâce à…" open with common words,
"Microsoft a lancé…" with a name the passage must hold. A word missing from the list stays a possible name: the strict
side.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from rag.verify import COMMON_WORDS, _fold, name_form
from training.reader import data


def common_words(sentences: Iterable[str], min_count: int = 2) -> list[str]:
    """The folded words written in lower case at least `min_count` times and more often than with a capital, each
    sentence's first word aside (a tie leaves the word a possible name: the strict side)."""
    lower, capital = Counter(), Counter()
    for sentence in sentences:
        for word in name_form(sentence)[1:]:
            if len(word) >= 2:
                (lower if word[0].islower() else capital)[_fold(word)] += 1
    return sorted(w for w, n in lower.items() if n >= min_count and n > capital[w])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the SQuAD-format files (../shared/data/qa)")
    parser.add_argument("--out", type=Path, default=COMMON_WORDS)
    args = parser.parse_args(argv)
    corpus = data.load(args.data)
    train, _dev = data.split_articles(corpus)
    words = common_words([s.text for s in corpus.sentences if s.article in train] +
                         [q.text for q in corpus.questions if q.article in train])
    args.out.write_text("\n".join(words) + "\n", encoding="utf-8")
    print(f"{len(words)} common words -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
