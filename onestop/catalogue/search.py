"""Catalogue search: an in-memory inverted index built once per catalogue snapshot.

English is split into words with light stemming (licence/license, plurals, -ing/-ed); a query word missing from
the index is widened by prefix and by bounded edit distance (rapidfuzz) over the index's own words. Chinese is
indexed as character bigrams and single characters after folding Traditional and Simplified to one form (OpenCC),
so a query in either script finds text in either. Scores are BM25F over title, keywords and summary, and hits
with query words in their title always come first.

Hand-written rather than a search library: whoosh is unmaintained, and tantivy (a native dependency) would still
need this module's Traditional/Simplified folding, stemming and title-first tiers in front of it; a catalogue is
small enough (10,000 services in ~150 MiB, p99 under 5 ms, see bench/catalogue.py) for plain dictionaries.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from onestop.catalogue.text import to_simplified

__all__ = ["SearchDocument", "SearchHit", "SearchIndex", "SearchPage", "tokenize"]

# BM25F: field weights say where a word matters most; k1/b are the usual BM25 defaults.
_WEIGHTS = {"title": 3.0, "keywords": 2.0, "summary": 1.0}
_K1 = 1.2
_B = 0.75
# Widened query words count less than the word itself, so an exact hit outranks a guess.
_PREFIX_WEIGHT = 0.8
_FUZZY_WEIGHT = {1: 0.8, 2: 0.6}
_MAX_EXPANSIONS = 24
# Score tiers: a query word found in the title outweighs any number of other matches (up to 9 query words),
# and each matched query word outweighs any BM25 difference (idf stays below ~12 at 100,000 documents).
_TITLE_BONUS = 1000.0
_MATCH_BONUS = 100.0
_CACHE_LIMIT = 4096
_STEP = 200  # documents (or terms) per step of build_steps
_MAX_QUERY_TERMS = 24
# Pieces of ``SearchIndex.parts``: about this many documents, postings or words each (about half a millisecond
# to read back).
_PART_DOCS = 100
_PART_POSTINGS = 1000
_PART_WORDS = 1000

_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "i", "in", "is", "it", "me", "my",
    "of", "on", "or", "our", "the", "to", "with", "your", "you",
})
# British and American spellings citizens mix; both sides of the index meet at the second form.
_SPELLINGS = {
    "licence": "license", "licences": "licenses", "licenced": "licensed", "centre": "center",
    "centres": "centers", "programme": "program", "programmes": "programs", "cheque": "check",
    "cheques": "checks", "enrol": "enroll", "enrolment": "enrollment", "labour": "labor",
    "colour": "color", "organisation": "organization", "organise": "organize", "neighbourhood": "neighborhood",
    "behaviour": "behavior", "favour": "favor", "defence": "defense", "offence": "offense",
    "practise": "practice", "travelling": "traveling", "cancelled": "canceled", "cancelling": "canceling",
}

_TOKEN_RE = re.compile(
    r"[a-z0-9]+"
    r"|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]+"
)


class _Service(Protocol):
    """The parts of a catalogue ``Service`` the index reads (duck-typed: the catalogue imports us)."""

    @property
    def id(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def themes(self) -> Sequence[str]: ...
    @property
    def title(self) -> Any: ...
    @property
    def summary(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """What the index knows of one service. Texts and keywords are keyed by language (en, tc, sc)."""

    id: str
    title: Mapping[str, str]
    summary: Mapping[str, str] = field(default_factory=dict)
    keywords: Mapping[str, Sequence[str]] = field(default_factory=dict)
    themes: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()
    department: str | None = None

    @classmethod
    def from_service(cls, service: _Service) -> SearchDocument:
        """The document of a catalogue ``Service`` (LocalizedText title/summary, LocalizedList keywords)."""
        keywords = getattr(service, "keywords", None)
        return cls(
            id=service.id,
            title=_texts(service.title),
            summary=_texts(service.summary),
            keywords={lang: tuple(getattr(keywords, lang, ()) or ()) for lang in ("en", "tc", "sc")}
            if keywords is not None else {},
            themes=tuple(service.themes),
            age_groups=tuple(getattr(service, "age_groups", ()) or getattr(service, "ageGroups", ())),
            department=service.department,
        )


def _texts(text: Any) -> dict[str, str]:
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return {str(k): str(v) for k, v in text.items() if v}
    return {lang: value for lang in ("en", "tc", "sc") if (value := getattr(text, lang, None))}


class SearchHit(NamedTuple):
    """One result. ``score`` orders hits: query words in the title first, then matched query words, then
    BM25F relevance (1000 per title word, 100 per matched word, plus BM25F)."""

    # A named tuple rather than a dataclass: a broad query at 10,000 services returns thousands of hits, and
    # building a tuple costs a fraction of a frozen dataclass.
    id: str
    score: float


class SearchPage(NamedTuple):
    """One page of ranked hits and how many hits there are in all."""

    total: int
    hits: list[SearchHit]


# --- tokenisation -----------------------------------------------------------------------------------------


class _FoldTable(dict[int, str]):
    """A ``str.translate`` table that learns each character's folded form on first sight."""

    def __missing__(self, code: int) -> str:
        # Traditional -> Simplified is many-to-one (髮/發 -> 发, 裡/裏 -> 里), so folding to Simplified lets both
        # scripts meet at one key; folding to Traditional would have to guess which Traditional form was meant.
        char = chr(code)
        folded = to_simplified(char) if not char.isascii() else char
        self[code] = value = folded if len(folded) == 1 else char
        return value


_FOLD_TABLE = _FoldTable()


def _fold(run: str) -> str:
    return run.translate(_FOLD_TABLE)


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    word = _SPELLINGS.get(word, word)
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _normalize(text: str) -> str:
    # NFKC turns full-width Latin and digits (Ｂ２) into ASCII so Chinese-keyboard input matches.
    return unicodedata.normalize("NFKC", text).casefold()


def _is_cjk(token: str) -> bool:
    return not token[0].isascii()


def _cjk_terms(run: str) -> list[str]:
    folded = _fold(run)
    if len(folded) == 1:
        return [folded]
    return [folded[i : i + 2] for i in range(len(folded) - 1)]


def tokenize(text: str) -> list[str]:
    """Index terms of a text: stemmed English words (stopwords dropped), folded CJK bigrams then characters.

    Characters are indexed too so a one-character query (稅, 車) finds longer words; queries of two or more
    characters look up bigrams, which keep word order and so rank far better.
    """
    return _analyze(text)[0]


def _analyze(text: str) -> tuple[list[str], list[str]]:
    """The index terms of a text, and its English words as written (for prefix and typo matching)."""
    terms: list[str] = []
    words: list[str] = []
    for token in _TOKEN_RE.findall(_normalize(text)):
        if _is_cjk(token):
            terms.extend(_cjk_terms(token))
            if len(token) > 1:
                terms.extend(_fold(token))
        elif token not in _STOPWORDS:
            words.append(token)
            terms.append(_stem(token))
    return terms, words


@dataclass(frozen=True, slots=True)
class _Group:
    """One query word: the index terms it matches, each with the weight of that kind of match."""

    terms: tuple[tuple[str, float], ...]


def _fuzzy_bound(length: int) -> int:
    # Short words tolerate no typo (too many neighbours); longer ones one, then two.
    if length <= 3:
        return 0
    return 1 if length <= 5 else 2


# --- the index --------------------------------------------------------------------------------------------


class SearchIndex:
    """An immutable search index over a fixed set of documents. Build with ``SearchIndex.build``."""

    def __init__(self, documents: Sequence[SearchDocument]) -> None:
        steps = self._construct(documents)
        while next(steps, True) is None:
            pass

    def _construct(self, documents: Sequence[SearchDocument]) -> Generator[None, None, None]:
        self._docs = tuple(documents)
        self._ids = tuple(doc.id for doc in self._docs)
        # term -> {doc index: title bonus + idf * saturated BM25F term frequency}; all of it is query
        # independent, so a query adds one precomputed number per posting.
        self._postings: dict[str, dict[int, float]] = {}
        self._surface: dict[str, set[str]] = defaultdict(set)  # English word as written -> its stems
        self._by_theme: dict[str, frozenset[int]] = {}
        self._by_age: dict[str, frozenset[int]] = {}
        self._by_department: dict[str, frozenset[int]] = {}
        self._expansions: dict[str, tuple[tuple[str, float], ...]] = {}
        yield from self._build()
        self._words_sorted = sorted(self._surface)
        self._words_by_length: dict[int, list[str]] = defaultdict(list)
        for word in self._words_sorted:
            self._words_by_length[len(word)].append(word)

    @classmethod
    def build(cls, source: Iterable[SearchDocument] | Any) -> SearchIndex:
        """Index documents, or every service of a ``Catalogue`` (anything with ``.services``)."""
        services = getattr(source, "services", None)
        if services is not None:
            values = services.values() if isinstance(services, Mapping) else services
            return cls([SearchDocument.from_service(service) for service in values])
        docs = list(source)
        seen: set[str] = set()
        for doc in docs:
            if doc.id in seen:
                raise ValueError(f"duplicate search document id {doc.id!r}: each service is indexed once")
            seen.add(doc.id)
        return cls(docs)

    @classmethod
    def build_steps(cls, catalogue: Any) -> Generator[None, None, SearchIndex]:
        """``build`` of a catalogue's services in steps of a few hundred documents, for a server to run between
        requests (see ``catalogue.load_steps``)."""
        docs = []
        for number, service in enumerate(catalogue.services.values(), start=1):
            docs.append(SearchDocument.from_service(service))
            if number % _STEP == 0:
                yield
        index = cls.__new__(cls)
        yield from index._construct(docs)
        return index

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def documents(self) -> tuple[SearchDocument, ...]:
        """The indexed documents, in catalogue order."""
        return self._docs

    def parts(self) -> Iterator[tuple[str, Any]]:
        """The built index as small pieces, for a process that built it to hand it to another (``from_parts``):
        each piece is cheap to pickle and to read back, so the reader can read between requests."""
        docs = self._docs
        for start in range(0, len(docs), _PART_DOCS):
            yield "docs", docs[start : start + _PART_DOCS]
        postings = list(self._postings.items())
        size = 0
        chunk: list[tuple[str, dict[int, float]]] = []
        for item in postings:
            chunk.append(item)
            size += len(item[1]) + 1
            if size >= _PART_POSTINGS:
                yield "postings", chunk
                chunk, size = [], 0
        if chunk:
            yield "postings", chunk
        words = self._words_sorted
        for start in range(0, len(words), _PART_WORDS):
            part = words[start : start + _PART_WORDS]
            yield "surface", [(word, self._surface[word]) for word in part]
        yield "filters", (self._by_theme, self._by_age, self._by_department)

    @classmethod
    def from_parts(cls, parts: Iterable[tuple[str, Any]]) -> Generator[None, None, SearchIndex]:
        """The index ``parts`` gave, put together a piece per step (a server reads them between requests)."""
        index = cls.__new__(cls)
        docs: list[SearchDocument] = []
        index._postings = {}
        index._surface = defaultdict(set)
        index._expansions = {}
        words: list[str] = []
        for kind, part in parts:
            if kind == "docs":
                docs.extend(part)
            elif kind == "postings":
                index._postings.update(part)
            elif kind == "surface":
                index._surface.update(part)
                words.extend(word for word, _ in part)
            elif kind == "filters":
                index._by_theme, index._by_age, index._by_department = part
            else:
                raise ValueError(f"unknown search index part {kind!r}")
            yield
        index._docs = tuple(docs)
        index._ids = tuple(doc.id for doc in index._docs)
        index._words_sorted = words  # written in sorted order
        index._words_by_length = defaultdict(list)
        for number, word in enumerate(words):
            index._words_by_length[len(word)].append(word)
            if number % (_PART_WORDS * 4) == 0:
                yield
        return index

    def _build(self) -> Generator[None, None, None]:
        fields: dict[str, list[Counter[str]]] = {name: [] for name in _WEIGHTS}
        surface: set[str] = set()
        lengths: dict[str, list[int]] = {name: [] for name in _WEIGHTS}
        themes: dict[str, list[int]] = defaultdict(list)
        ages: dict[str, list[int]] = defaultdict(list)
        departments: dict[str, list[int]] = defaultdict(list)
        for index, doc in enumerate(self._docs):
            texts = {
                "title": _distinct(doc.title.values()),
                "summary": _distinct(doc.summary.values()),
                "keywords": _distinct(word for words in doc.keywords.values() for word in words),
            }
            for name, parts in texts.items():
                counts: Counter[str] = Counter()
                for part in parts:
                    terms, words = _analyze(part)
                    counts.update(terms)
                    surface.update(words)
                fields[name].append(counts)
                lengths[name].append(counts.total())
            for theme in doc.themes:
                themes[theme].append(index)
            for age in doc.age_groups:
                ages[age].append(index)
            if doc.department is not None:
                departments[doc.department].append(index)
            if index % _STEP == 0:
                yield

        for word in surface:
            self._surface[word].add(_stem(word))
        count = len(self._docs)
        averages = {name: (sum(values) / count if count else 0.0) or 1.0 for name, values in lengths.items()}
        weighted: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        title_terms: dict[str, set[int]] = defaultdict(set)
        for name, per_doc in fields.items():
            weight = _WEIGHTS[name]
            for index, counts in enumerate(per_doc):
                norm = 1 - _B + _B * lengths[name][index] / averages[name]
                for term, tf in counts.items():
                    weighted[term][index] += weight * tf / norm
                    if name == "title":
                        title_terms[term].add(index)
                if index % _STEP == 0:
                    yield
        for number, (term, per_doc_tf) in enumerate(weighted.items()):
            if number % _STEP == 0:
                yield
            df = len(per_doc_tf)
            idf = math.log(1 + (count - df + 0.5) / (df + 0.5))
            in_title = title_terms.get(term, set())
            self._postings[term] = {
                index: (_TITLE_BONUS if index in in_title else 0.0) + idf * tf / (_K1 + tf)
                for index, tf in per_doc_tf.items()
            }
        self._by_theme = {key: frozenset(value) for key, value in themes.items()}
        self._by_age = {key: frozenset(value) for key, value in ages.items()}
        self._by_department = {key: frozenset(value) for key, value in departments.items()}

    # --- query side -------------------------------------------------------------------------------------

    def _groups(self, query: str) -> list[_Group]:
        groups: list[_Group] = []
        for token in _TOKEN_RE.findall(_normalize(query)):
            if _is_cjk(token):
                terms = _cjk_terms(token)
                if len(token) > 1 and not any(term in self._postings for term in terms):
                    # No bigram is known (a rare compound): fall back to its characters.
                    terms = list(dict.fromkeys(_fold(token)))
                groups.extend(_Group(((term, 1.0),)) for term in terms)
            elif token not in _STOPWORDS:
                groups.append(_Group(self._expand(token)))
        # A pasted paragraph must not cost a fuzzy scan per word: the first words decide.
        return groups[:_MAX_QUERY_TERMS]

    def _expand(self, word: str) -> tuple[tuple[str, float], ...]:
        cached = self._expansions.get(word)
        if cached is not None:
            return cached
        stem = _stem(word)
        found: dict[str, float] = {}
        if stem in self._postings:
            found[stem] = 1.0
        if len(word) >= 3:
            # Prefixes of what was typed, not of its stem: "driving" must not widen to "driver".
            for term in self._with_prefix(word):
                found.setdefault(term, _PREFIX_WEIGHT)
        if not found:
            found.update(self._fuzzy(word))
        result = tuple(sorted(found.items(), key=lambda item: (-item[1], item[0]))[:_MAX_EXPANSIONS])
        if len(self._expansions) >= _CACHE_LIMIT:
            self._expansions.clear()
        self._expansions[word] = result
        return result

    def _with_prefix(self, prefix: str) -> list[str]:
        terms: list[str] = []
        start = bisect.bisect_left(self._words_sorted, prefix)
        for candidate in self._words_sorted[start : start + _MAX_EXPANSIONS]:
            if not candidate.startswith(prefix):
                break
            terms.extend(sorted(self._surface[candidate]))
        return terms

    def _fuzzy(self, word: str) -> dict[str, float]:
        bound = _fuzzy_bound(len(word))
        if bound == 0:
            return {}
        choices = [w for size in range(len(word) - bound, len(word) + bound + 1)
                   for w in self._words_by_length.get(size, ())]
        matches = process.extract(word, choices, scorer=Levenshtein.distance, score_cutoff=bound,
                                  limit=_MAX_EXPANSIONS)
        if not matches:
            return {}
        # Keep only the closest words: "drivng" means "driving" (1 edit), not also "diving" (2).
        best = min(int(distance) for _, distance, _ in matches)
        found: dict[str, float] = {}
        for candidate, distance, _ in matches:
            if distance == best:
                for term in self._surface[candidate]:
                    found[term] = max(found.get(term, 0.0), _FUZZY_WEIGHT[best])
        return found

    def _allowed(self, theme: str | None, age_group: str | None, department: str | None) -> frozenset[int] | None:
        allowed: frozenset[int] | None = None
        for table, key in ((self._by_theme, theme), (self._by_age, age_group), (self._by_department, department)):
            if key is None:
                continue
            docs = table.get(key, frozenset())
            allowed = docs if allowed is None else allowed & docs
        return allowed

    def search(self, query: str, *, theme: str | None = None, age_group: str | None = None,
               department: str | None = None, limit: int | None = None) -> list[SearchHit]:
        """Documents matching ``query`` best first, within the filters. A blank query matches nothing."""
        totals = self._scores(query, theme, age_group, department)
        return self._ranked(totals, limit)

    def search_page(self, query: str, *, offset: int = 0, limit: int = 20, theme: str | None = None,
                    age_group: str | None = None, department: str | None = None) -> SearchPage:
        """Hits ``offset`` to ``offset + limit`` of ``search`` and the total, without ranking the rest."""
        totals = self._scores(query, theme, age_group, department)
        return SearchPage(len(totals), self._ranked(totals, offset + limit)[offset:] if limit > 0 else [])

    def _ranked(self, totals: dict[int, float], limit: int | None) -> list[SearchHit]:
        # Ranking walks document numbers, not (number, score) pairs: thousands of short-lived tuples per query
        # would wake the garbage collector, whose full passes over a large catalogue cost milliseconds.
        # Walking in catalogue order makes equal scores keep catalogue order (both selections are stable).
        order = sorted(totals)
        score = totals.__getitem__
        ranked = (heapq.nlargest(limit, order, key=score) if limit is not None
                  else sorted(order, key=score, reverse=True))
        ids = self._ids
        return [SearchHit(ids[index], totals[index]) for index in ranked]

    def _scores(self, query: str, theme: str | None, age_group: str | None,
                department: str | None) -> dict[int, float]:
        groups = self._groups(query)
        if not groups:
            return {}
        allowed = self._allowed(theme, age_group, department)
        totals: dict[int, float] = {}
        get = totals.get
        for group in groups:
            found = [(self._postings[term], weight) for term, weight in group.terms if term in self._postings]
            if not found:
                continue
            if len(found) == 1 and found[0][1] == 1.0:
                best = found[0][0]
            else:
                # A query word widened to several terms counts once per document, by its best term.
                best = {}
                for postings, weight in found:
                    for index, value in postings.items():
                        value *= weight
                        if value > best.get(index, 0.0):
                            best[index] = value
            for index, value in best.items():
                totals[index] = get(index, 0.0) + _MATCH_BONUS + value
        if allowed is not None:
            totals = {index: value for index, value in totals.items() if index in allowed}
        return totals

    def filter(self, theme: str | None = None, age_group: str | None = None,
               department: str | None = None) -> list[str]:
        """Ids of documents matching every given filter, in catalogue order."""
        allowed = self._allowed(theme, age_group, department)
        if allowed is None:
            return list(self._ids)
        return [self._ids[index] for index in sorted(allowed)]

    def recommend(self, age_group: str | None) -> list[str]:
        """Every id: those for ``age_group`` first, then the rest, each part in catalogue order."""
        chosen = self._by_age.get(age_group, frozenset()) if age_group is not None else frozenset()
        first = [self._ids[index] for index in sorted(chosen)]
        rest = [doc_id for index, doc_id in enumerate(self._ids) if index not in chosen]
        return first + rest

    def clear_cache(self) -> None:
        """Forget widened query words (benchmarks use it to measure cold queries)."""
        self._expansions.clear()


def _distinct(parts: Iterable[str]) -> list[str]:
    # sc is usually derived from tc; after folding they are the same text, and counting it twice would
    # double its weight.
    seen: set[str] = set()
    result: list[str] = []
    for part in parts:
        key = _fold(_normalize(part))
        if part and key not in seen:
            seen.add(key)
            result.append(part)
    return result
