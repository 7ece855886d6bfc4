"""The entity graph's rules, pure: what a new relation does to the current ones, and which
entities a message names.

A relation holds from when it was learnt until something contradicts it; it is then closed
(its `valid_to` set), never deleted, so the history stays answerable ("were they friends?")
while only current relations are presented as true. Two rules decide contradiction:
- a relation the extraction model marked `single` (lives_in, works_at, favourite_colour):
  a subject has one current object, so a new object closes the old one;
- relations in one exclusive group (friend_of, enemy_of, ...) cannot hold at once between
  the same two entities, in either direction: "now enemies" closes "friends".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from comox.agents.records import Edge

_SPACES = re.compile(r"\s+")
_RELATION = re.compile(r"[^a-z0-9]+")


def entity(name: str) -> str:
    """Canonical entity name: trimmed, single spaces, lower case ('Bob ' == 'bob')."""
    return _SPACES.sub(" ", name.strip()).lower()


def relation(name: str) -> str:
    """Canonical relation: snake_case ('Friend of' -> 'friend_of')."""
    return _RELATION.sub("_", name.strip().lower()).strip("_")


@dataclass(frozen=True, slots=True)
class NewEdge:
    subject: str
    relation: str
    object: str
    single: bool = False


@dataclass(frozen=True, slots=True)
class Upsert:
    """What to do: close these edges, and insert the new one unless it is already current."""

    close: tuple[int, ...]
    insert: bool


def exclusive_group(rel: str, groups: Sequence[Sequence[str]]) -> frozenset[str]:
    for group in groups:
        if rel in group:
            return frozenset(group)
    return frozenset()


def plan_upsert(current: Iterable[Edge], new: NewEdge, groups: Sequence[Sequence[str]]) -> Upsert:
    """`current`: the subject's and object's current edges (valid_to None)."""
    group = exclusive_group(new.relation, groups)
    pair = {new.subject, new.object}
    close: list[int] = []
    insert = True
    for edge in current:
        if edge.valid_to is not None:
            continue
        same_subject = edge.subject == new.subject and edge.relation == new.relation
        if same_subject and edge.object == new.object:
            insert = False  # already known and current
        elif (same_subject and new.single) or (
            edge.relation != new.relation and edge.relation in group and {edge.subject, edge.object} == pair
        ):
            close.append(edge.id)
    return Upsert(tuple(close), insert)


SELF = "user"
"""The entity the extraction model names the end user by."""
_FIRST_PERSON = (" i ", " me ", " my ", " mine ", " myself ", " i m ", " i ve ")


def mentioned(text: str, entities: Iterable[str]) -> list[str]:
    """The known entities `text` names, as whole words (case-insensitive); the end user
    speaking of themselves ("my sister", "I") names the `user` entity."""
    lowered = f" {_RELATION.sub(' ', text.lower())} "
    entities = list(entities)
    found = [SELF] if SELF in entities and any(w in lowered for w in _FIRST_PERSON) else []
    for name in entities:
        words = _RELATION.sub(" ", name).strip()
        if words and f" {words} " in lowered and name not in found:
            found.append(name)
    return found


def _stems(text: str) -> set[str]:
    return {w[:4] for w in _RELATION.sub(" ", text.lower()).split() if len(w) > 2}


def neighbours(edges: Iterable[Edge], names: Iterable[str], limit: int, text: str = "") -> list[Edge]:
    """Current edges touching any of `names`, at most `limit`: those sharing most words
    with `text` first ("where do I live" puts lives_in first), then the newest."""
    wanted = set(names)
    hits = [e for e in edges if e.valid_to is None and (e.subject in wanted or e.object in wanted)]
    asked = _stems(text)
    hits.sort(key=lambda e: (-len(asked & _stems(e.describe())), -e.valid_from))
    return hits[:limit]
