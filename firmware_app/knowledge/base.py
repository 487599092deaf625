"""FAQ and intent answers in SQLite: FTS5 for English, trigram FTS5 for Chinese, vectors for meaning.

Search is hybrid. English queries run a word index (porter stemming) and a semantic search with the kiosk's
sentence encoder (cosine against each entry's question and its alternative phrasings); the two rankings are
fused by reciprocal rank. Chinese has no spaces, so it uses a trigram index, and for one- or two-character
queries (too short for trigrams) a substring scan. ``FaqHit.similarity`` is the semantic cosine when there is
one, so the dialogue can decide whether a hit is good enough to answer with.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from firmware_app.events import LANGUAGES, Language
from firmware_app.packs import Pack
from firmware_app.store import insert_row, transaction, utc_now
from firmware_app.text import clean_text
from kiosk_link.durable import write_bytes_atomically

Embed = Callable[[Sequence[str]], np.ndarray]
RRF_K = 60
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class FaqHit:
    entry_id: str
    kind: str  # "intent" or "faq"
    topic: str
    lang: Language
    question: str
    answer: str
    steps: tuple[str, ...]
    follow_up: str | None
    similarity: float  # semantic cosine 0..1 (0 when only the word/trigram index matched)


class KnowledgeBase:
    """Reads and (on pack install) rewrites the knowledge tables; ``embed`` enables semantic search."""

    def __init__(
        self,
        db: Database,
        embed: Mapping[Language, Embed] | None = None,
        embedder: str = "",
        vector_cache: Path | None = None,
    ) -> None:
        """``embed`` turns texts of each language into unit vectors (the intent models' sentence embeddings);
        ``embedder`` names those models, so that a new model re-embeds the pack. ``vector_cache`` is a folder
        where a pack's vectors are kept by pack content and embedder: a new database (after an erasure, on a
        second kiosk process, in the tests) installs the same pack without the 825 encoder runs (1.3 s)."""
        self.db = db
        self.embed = dict(embed or {})
        self.embedder = embedder
        self.vector_cache = vector_cache
        self._vectors: dict[Language, tuple[list[int], np.ndarray]] = {}

    def installed_version(self, pack_id: str) -> tuple[str, str, str] | None:
        """(version, content sha256, embedder) of the installed pack, or None."""
        row = self.db.execute(
            "SELECT version, content_sha256, embedder FROM packs WHERE pack_id = ?", [pack_id]
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def install_pack(self, pack: Pack) -> None:
        """Replace everything a previous version of this pack put in the store, in one transaction."""
        rows = _pack_rows(pack)
        vectors = self._cached_vectors(pack, rows)
        with transaction(self.db):
            self.db.execute("DELETE FROM faq WHERE pack_id = ?", [pack.manifest.id])
            self.db.execute("DELETE FROM packs WHERE pack_id = ?", [pack.manifest.id])
            insert_row(
                self.db,
                "packs",
                {
                    "pack_id": pack.manifest.id,
                    "version": pack.manifest.version,
                    "content_sha256": pack.content_sha256,
                    "installed_at": utc_now(),
                    "embedder": self.embedder,
                },
            )
            for row, vector in zip(rows, vectors, strict=True):
                insert_row(self.db, "faq", {**row, "vector": vector})
            self.db.execute("INSERT INTO faq_fts(faq_fts) VALUES ('rebuild')")
            self.db.execute("INSERT INTO faq_trigram(faq_trigram) VALUES ('rebuild')")
        self._vectors = {}

    def _cached_vectors(self, pack: Pack, rows: list[dict[str, object]]) -> list[bytes | None]:
        """The rows' vectors from the cache when this pack content was embedded by these models before."""
        if self.vector_cache is None or not self.embed:
            return self._embed_rows(rows)
        key = hashlib.sha256(f"{pack.content_sha256} {self.embedder}".encode()).hexdigest()[:32]
        path = self.vector_cache / f"pack-vectors-{key}.npz"
        try:
            with np.load(path) as cached:
                sizes, values = cached["sizes"], cached["values"]
            if len(sizes) == len(rows):  # a row's float16 values, flat; size 0 stands for "no vector"
                parts = np.split(values, np.cumsum(sizes)[:-1])
                return [part.tobytes() if size else None for part, size in zip(parts, sizes, strict=True)]
        except (OSError, ValueError, KeyError):  # absent or damaged: embed again and rewrite it
            pass
        blobs = self._embed_rows(rows)
        flat = [np.frombuffer(b, dtype=np.float16) if b is not None else np.empty(0, np.float16) for b in blobs]
        buffer = io.BytesIO()
        np.savez(buffer, sizes=np.array([len(f) for f in flat]), values=np.concatenate(flat))
        write_bytes_atomically(path, buffer.getvalue())
        return blobs

    def _embed_rows(self, rows: list[dict[str, object]]) -> list[bytes | None]:
        """One float16 matrix per row (question + alternatives), by its language's model; None without one."""
        blobs: list[bytes | None] = [None] * len(rows)
        for lang, embed in self.embed.items():
            phrasings = {
                i: [str(r["question"]), *json.loads(str(r["alternatives"]))]
                for i, r in enumerate(rows)
                if r["lang"] == lang
            }
            vectors = iter(np.asarray(embed([t for texts in phrasings.values() for t in texts]), dtype=np.float16))
            for i, texts in phrasings.items():
                blobs[i] = np.stack([next(vectors) for _ in texts]).tobytes()
        return blobs

    def get(self, entry_id: str, lang: Language) -> FaqHit | None:
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM faq WHERE entry_id = ? AND lang = ?", [entry_id, lang]
        ).fetchone()
        return _hit(row, 1.0) if row else None

    def search(
        self, query: str, lang: Language, limit: int = 5, query_vector: np.ndarray | None = None
    ) -> list[FaqHit]:
        """Best entries for ``query`` in ``lang``, best first."""
        query, _ = clean_text(query)
        if not any(c.isalnum() for c in query):  # nothing to search for: punctuation, U+FFFD, digits' signs
            return []
        lexical = self._search_chinese(query, limit * 3) if lang == "zh" else self._search_words(query, limit * 3)
        similarities = self._semantic(query, lang, query_vector)
        semantic = sorted(similarities, key=lambda r: -similarities[r])[: limit * 3]
        ranked = _fuse(lexical, semantic)
        rows = []
        for rowid in ranked[:limit]:
            row = self.db.execute(f"SELECT {_COLUMNS} FROM faq WHERE rowid = ?", [rowid]).fetchone()
            rows.append(_hit(row, similarities.get(rowid, 0.0)))
        return rows

    def keyword_matches(self, query: str, lang: Language, limit: int = 3) -> list[tuple[str, float]]:
        """Entries whose phrasings share the most with ``query``, without any model: (entry id, overlap 0..1),
        best first. The overlap is the Dice coefficient of the query's content words (roughly stemmed) with the
        entry's best phrasing, of character pairs in Chinese. What the kiosk reads questions with while its intent
        model cannot be loaded (``nlu.degraded``)."""
        query, _ = clean_text(query)
        if lang == "zh":
            wanted = _char_pairs(query)
            candidates = self._search_chinese(query, limit * 10) if wanted else []
        else:
            wanted = _content_words(query)
            topic_words = [w for w in _WORD.findall(query.lower()) if w not in _STOPWORDS]
            candidates = self._search_words(" ".join(topic_words), limit * 10) if wanted else []
        scored: dict[str, float] = {}
        for rowid in candidates:
            row = self.db.execute(
                "SELECT entry_id, question, alternatives FROM faq WHERE rowid = ?", [rowid]
            ).fetchone()
            phrasings = [str(row[1]), *json.loads(str(row[2]))]
            best = max(_dice(wanted, _char_pairs(p) if lang == "zh" else _content_words(p)) for p in phrasings)
            scored[str(row[0])] = max(scored.get(str(row[0]), 0.0), best)
        ranked = sorted(scored.items(), key=lambda item: -item[1])  # stable: the index's order breaks ties
        return [(entry_id, round(score, 4)) for entry_id, score in ranked[:limit] if score > 0]

    def _search_words(self, query: str, limit: int) -> list[int]:
        words = [w for w in _WORD.findall(query.lower()) if len(w) > 1]
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        sql = (
            "SELECT faq.rowid FROM faq_fts JOIN faq ON faq.rowid = faq_fts.rowid"
            " WHERE faq_fts MATCH ? AND faq.lang = 'en' ORDER BY bm25(faq_fts, 4.0, 2.0, 1.0) LIMIT ?"
        )
        return [r[0] for r in self.db.execute(sql, [match, limit]).fetchall()]

    def _search_chinese(self, query: str, limit: int) -> list[int]:
        chars = "".join(c for c in query if not c.isspace() and c not in "，。？！、,.?!")
        if len(chars) < 3:
            like = f"%{chars}%"
            sql = (
                "SELECT rowid FROM faq WHERE lang = 'zh' AND (question LIKE ? OR alternatives LIKE ? OR answer LIKE ?)"
                " ORDER BY (question LIKE ?) DESC, kind DESC LIMIT ?"
            )
            return [r[0] for r in self.db.execute(sql, [like, like, like, like, limit]).fetchall()]
        grams = {chars[i : i + 3] for i in range(len(chars) - 2)}
        match = " OR ".join('"' + g.replace('"', '""') + '"' for g in sorted(grams))
        sql = (
            "SELECT faq.rowid FROM faq_trigram JOIN faq ON faq.rowid = faq_trigram.rowid"
            " WHERE faq_trigram MATCH ? AND faq.lang = 'zh' ORDER BY bm25(faq_trigram, 4.0, 2.0, 1.0) LIMIT ?"
        )
        return [r[0] for r in self.db.execute(sql, [match, limit]).fetchall()]

    def _semantic(self, query: str, lang: Language, query_vector: np.ndarray | None) -> dict[int, float]:
        """Cosine similarity of the query to each entry of ``lang`` (its best phrasing); empty without vectors."""
        embed = self.embed.get(lang)
        if embed is None and query_vector is None:
            return {}
        rowids, matrix = self._vector_index(lang)
        if not rowids:
            return {}
        if query_vector is None:
            assert embed is not None
            query_vector = embed([query])[0]
        vector = query_vector
        sims = matrix @ np.asarray(vector, dtype=np.float32)
        best: dict[int, float] = {}
        for rowid, sim in zip(rowids, sims, strict=True):
            best[rowid] = max(best.get(rowid, -1.0), float(sim))
        return best

    def _vector_index(self, lang: Language) -> tuple[list[int], np.ndarray]:
        """All phrasing vectors of one language as one matrix (cached until the next install), with row ids."""
        if lang not in self._vectors:
            rowids: list[int] = []
            blocks = []
            sql = "SELECT rowid, vector FROM faq WHERE vector IS NOT NULL AND lang = ?"
            for rowid, blob in self.db.execute(sql, [lang]):
                block = np.frombuffer(blob, dtype=np.float16).reshape(-1, 384).astype(np.float32)
                rowids.extend([rowid] * len(block))
                blocks.append(block)
            self._vectors[lang] = (rowids, np.concatenate(blocks) if blocks else np.zeros((0, 384), np.float32))
        return self._vectors[lang]


_COLUMNS = "entry_id, kind, topic, lang, question, answer, steps, follow_up"


def _hit(row: Sequence[object], similarity: float) -> FaqHit:
    entry_id, kind, topic, lang, question, answer, steps, follow_up = row
    return FaqHit(
        str(entry_id),
        str(kind),
        str(topic),
        "zh" if lang == "zh" else "en",
        str(question),
        str(answer),
        tuple(json.loads(str(steps))),
        None if follow_up is None else str(follow_up),
        similarity,
    )


# Words that say nothing about what a question is about (for ``keyword_matches``).
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "it",
        "its",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "about",
        "into",
        "and",
        "or",
        "but",
        "if",
        "so",
        "not",
        "no",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "how",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "please",
        "hi",
        "hello",
        "thanks",
        "thank",
        "just",
        "want",
        "need",
        "like",
        "get",
        "got",
        "have",
        "has",
        "had",
        "some",
        "any",
    }
)
_SUFFIXES = ("ing", "ed", "es", "s")


def _content_words(text: str) -> set[str]:
    """The words of ``text`` that carry its topic, lower-cased and stripped of a common suffix."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if len(word) < 2 or word in _STOPWORDS:
            continue
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        words.add(word)
    return words


def _char_pairs(text: str) -> set[str]:
    """The pairs of adjacent characters of ``text`` without spaces and punctuation (Chinese has no spaces)."""
    chars = "".join(c for c in text if c.isalnum())
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def _dice(first: set[str], second: set[str]) -> float:
    return 2 * len(first & second) / (len(first) + len(second)) if first and second else 0.0


def _fuse(*rankings: list[int]) -> list[int]:
    """Reciprocal-rank fusion of several rankings of row ids."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, rowid in enumerate(ranking):
            scores[rowid] = scores.get(rowid, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores, key=lambda r: -scores[r])


def _pack_rows(pack: Pack) -> list[dict[str, object]]:
    """One row per entry and language; intents are searchable by their title and example questions."""
    rows: list[dict[str, object]] = []
    for lang in LANGUAGES:
        for intent in pack.intents:
            rows.append(
                {
                    "entry_id": intent.id,
                    "lang": lang,
                    "pack_id": pack.manifest.id,
                    "kind": "intent",
                    "topic": intent.topic,
                    "question": intent.title.get(lang),
                    "alternatives": json.dumps(
                        intent.examples if lang == "en" else intent.examples_zh, ensure_ascii=False
                    ),
                    "answer": intent.answer.get(lang),
                    "steps": json.dumps(intent.steps.get(lang), ensure_ascii=False),
                    "follow_up": intent.follow_up.get(lang) if intent.follow_up else None,
                }
            )
        for entry in pack.faq:
            rows.append(
                {
                    "entry_id": entry.id,
                    "lang": lang,
                    "pack_id": pack.manifest.id,
                    "kind": "faq",
                    "topic": entry.topic,
                    "question": entry.question.get(lang),
                    "alternatives": json.dumps(entry.alternatives.get(lang), ensure_ascii=False),
                    "answer": entry.answer.get(lang),
                    "steps": json.dumps(entry.steps.get(lang), ensure_ascii=False),
                    "follow_up": None,
                }
            )
    return rows
