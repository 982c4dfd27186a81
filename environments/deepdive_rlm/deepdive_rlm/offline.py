"""Offline questions with exact answers, built from the bundled Wikipedia lead sections.

Each question quotes one sentence of an article with the article's subject blanked out, so it
has to be found by searching the offline index (`local` backend), then asks for something only
the pages hold. Three kinds, for example:

- title:  "... '[SUBJECT] was a German-born theoretical physicist best known for developing the
          theory of relativity.' What is the title of that article?"            -> Albert Einstein
- year:   "... '[SUBJECT] (born 12 February [YEAR]) was an English naturalist ...' What is the
          missing year?"                                                         -> 1809
- bridge (two hops): "... '[SUBJECT] is a dormant volcano in [X].' The lead section of the
          article about [X] mentions exactly one year. Which year is it?"        -> that year

Articles are split into train and eval (seeded), so the two splits never share a source article.
The same arguments always give the same questions.
"""

import functools
import random
import re
from dataclasses import dataclass

from deepdive_rlm.search_local import page_url
from rlm_env.data import WikiArticle, load_wiki_corpus

KINDS = ("title", "year", "bridge")
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-2][0-9])\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_ABBREVIATION = re.compile(r"(?:\b[A-Z]|\b(?:Mr|Mrs|Dr|St|Jr|Sr|Mt|No|vs|c|ca|U\.S))\.$")
_STOPWORDS = {"with", "from", "that", "this", "into", "over", "under", "after", "before", "their", "other", "about"}
INTRO = (
    "Here is a sentence from the lead section of an encyclopedia article, with the article's subject "
    "blanked out as [SUBJECT]"
)
QUESTIONS = {
    "title": INTRO + ':\n\n"{sentence}"\n\nWhat is the title of that article? Answer with the title only.',
    "year": INTRO + ' and one year as [YEAR]:\n\n"{sentence}"\n\nWhat is the missing year? Answer with the year only.',
    "bridge": INTRO + ' and another subject, which has an article of its own, as [X]:\n\n"{sentence}"\n\n'
    "The lead section of the article about [X] mentions exactly one year. Which year is it? "
    "Answer with the year only.",
}


@dataclass(frozen=True)
class OfflineQuestion:
    id: str
    kind: str
    question: str
    answer: str
    evidence: tuple[str, ...]
    """URLs (wiki://...) of the pages that hold the answer, in hop order."""


def split_articles(split: str, eval_fraction: float, split_seed: int) -> list[WikiArticle]:
    articles = list(load_wiki_corpus())
    random.Random(split_seed).shuffle(articles)
    n_eval = round(len(articles) * eval_fraction)
    return articles[:n_eval] if split == "eval" else articles[n_eval:]


@functools.lru_cache(maxsize=8)
def offline_questions(
    split: str, eval_fraction: float, split_seed: int, kinds: tuple[str, ...], seed: int, limit: int | None
) -> tuple[OfflineQuestion, ...]:
    """Up to `limit` questions (None: one per usable article), kinds taken in turn."""
    rng = random.Random(seed)
    articles = split_articles(split, eval_fraction, split_seed)
    rng.shuffle(articles)
    builder = _Builder(rng)
    questions: list[OfflineQuestion] = []
    for article in articles:
        if limit is not None and len(questions) >= limit:
            break
        if (q := builder.make(kinds[len(questions) % len(kinds)], article)) is not None:
            questions.append(q)
    return tuple(questions)


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        corpus = load_wiki_corpus()
        self.by_title = {a.title: a for a in corpus}
        # bridge targets: titles that can appear verbatim in prose, keyed by their first word
        self.targets: dict[str, list[str]] = {}
        for a in corpus:
            if len(a.title) >= 4 and "(" not in a.title and len(set(YEAR.findall(a.text))) == 1:
                self.targets.setdefault(a.title.split()[0], []).append(a.title)

    def make(self, kind: str, article: WikiArticle) -> OfflineQuestion | None:
        if "(" in article.title or "," in article.title:
            return None  # "Mercury (planet)": the exact answer would be ambiguous
        masked = [mask_subject(s, article.title) for s in sentences(article.text)]
        candidates = [s for s in masked if 8 <= len(s.split()) <= 60]
        self.rng.shuffle(candidates)
        for masked in candidates:
            made = getattr(self, f"_{kind}")(masked, article)
            if made is not None:
                sentence, answer, evidence = made
                return OfflineQuestion(
                    f"{kind}-{article.id}",
                    kind,
                    QUESTIONS[kind].format(sentence=sentence),
                    answer,
                    (page_url(article.title), *evidence),
                )
        return None

    def _title(self, masked: str, article: WikiArticle):
        return (masked, article.title, ()) if "[SUBJECT]" in masked else None

    def _year(self, masked: str, article: WikiArticle):
        years = set(YEAR.findall(masked))
        if len(years) != 1:
            return None
        year = years.pop()
        return YEAR.sub("[YEAR]", masked), year, ()

    def _bridge(self, masked: str, article: WikiArticle):
        words = list(re.finditer(r"\S+", masked))
        for word in words[1:]:  # a title at the start of a sentence may just be a capitalised word
            for title in self.targets.get(word.group().strip("\"'(),.;:"), []):
                rest = masked[word.start() :]
                if title != article.title and re.match(re.escape(title) + r"\b", rest):
                    target = self.by_title[title]
                    sentence = re.sub(rf"\b{re.escape(title)}\b", "[X]", masked)
                    return sentence, YEAR.search(target.text).group(), (page_url(title),)
        return None


def sentences(text: str) -> list[str]:
    """Split after . ! ? but not after initials and common abbreviations ("Franklin D. Roosevelt")."""
    merged: list[str] = []
    for piece in _SENTENCE_END.split(" ".join(text.split())):
        if merged and _ABBREVIATION.search(merged[-1]):
            merged[-1] += " " + piece
        else:
            merged.append(piece)
    return merged


def mask_subject(sentence: str, title: str) -> str:
    """Blank out the title and its longer words (case-insensitive, plurals too) as [SUBJECT]."""
    names = {title} | {w for w in re.findall(r"[\w'’-]+", title) if len(w) >= 4 and w.lower() not in _STOPWORDS}
    for name in sorted(names, key=len, reverse=True):
        sentence = re.sub(rf"(?<!\w){re.escape(name)}(?:e?s)?(?!\w)", "[SUBJECT]", sentence, flags=re.IGNORECASE)
    return re.sub(r"\[SUBJECT\](?:\s+\[SUBJECT\])+", "[SUBJECT]", sentence)


def offline_rows(
    split: str, eval_fraction: float, split_seed: int, kinds: tuple[str, ...], seed: int, limit: int | None
) -> list[dict]:
    """`offline_questions` as the taskset's rows (the fields of DeepDiveData, the question as the prompt)."""
    return [
        {
            "id": q.id,
            "question": q.question,
            "answer": q.answer,
            "kind": q.kind,
            "evidence": list(q.evidence),
            "prompt": q.question,
        }
        for q in offline_questions(split, eval_fraction, split_seed, kinds, seed, limit)
    ]
