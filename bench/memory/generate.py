"""A synthetic multi-session conversation set with planted facts, updates and distractors.

Each user talks to the agent over several sessions days apart. Planted facts are attributes
(where they live, their job, their pet, a food allergy, their sister, a friend who may become
an enemy, a hobby); some are updated in later sessions ("we moved to Porto"). Distractors are
small talk and near misses (facts about other people: "my colleague lives in Rome").
Probes ask about each attribute at the end of each later session; their gold answer is the
current value, and earlier values of the same attribute are stale.

    python bench/memory/generate.py --users 12 --sessions 4 --seed 7 > bench/memory/conversations.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys

CITIES = [
    "Lyon",
    "Porto",
    "Quebec City",
    "Tallinn",
    "Kraków",
    "Valencia",
    "Ghent",
    "Bergen",
    "Trieste",
    "Halifax",
]
JOBS = [
    "nurse",
    "carpenter",
    "data analyst",
    "baker",
    "pilot",
    "librarian",
    "architect",
    "teacher",
    "chemist",
]
PETS = ["a beagle called Pixel", "a cat named Miso", "a parrot called Kiwi", "a tortoise named Atlas",
        "a rabbit called Clover", "a husky named Juno"]  # fmt: skip
ALLERGIES = ["peanuts", "shellfish", "penicillin", "pollen", "cat dander", "sesame"]
SISTERS = ["Anna", "Lucía", "Ingrid", "Maya", "Chloé", "Priya", "Sofia"]
FRIENDS = ["Bob", "Karim", "Tomás", "Yuki", "Dmitri", "Ewan", "Marco"]
HOBBIES = ["bouldering", "sourdough baking", "chess", "watercolour painting", "trail running", "pottery"]
SMALL_TALK = [
    "What's a good way to start the morning?", "Tell me a fun fact about octopuses.",
    "Do you think it will rain this weekend?", "Recommend a podcast about history.",
    "How do I keep basil alive indoors?", "What's the difference between a latte and a flat white?",
    "Give me a riddle.", "How many cups are in a litre?", "What's a nice stretch after sitting all day?",
    "Suggest a name for a houseplant.", "Why do cats purr?", "What is the capital of Australia?",
    "How long does it take to walk 5 km?", "What's a good board game for two?",
    "Any tips for falling asleep faster?", "How do I clean a cast iron pan?",
]  # fmt: skip
NEAR_MISS = [
    "My colleague just moved to {city}.", "A friend of mine works as a {job}.",
    "My neighbour has {pet}.", "My cousin is allergic to {allergy}.", "My boss loves {hobby}.",
]  # fmt: skip

# attribute -> (statement templates, update template, probe question, subject, relation, single)
ATTRS = {
    "city": (["I live in {v} now.", "Home for me is {v}."], "We just moved, I live in {v} now.",
             "Which city do I live in these days?", "user", "lives_in", True),
    "job": (["I work as a {v}.", "My job? I'm a {v}."], "I changed careers, I'm a {v} now.",
            "What do I do for a living?", "user", "works_as", True),
    "pet": (["I have {v}.", "At home I have {v}."], None, "Tell me about my pet.", "user", "has_pet", False),
    "allergy": (["I'm allergic to {v}.", "I can't have {v}, I'm allergic."], None,
                "Is there anything I'm allergic to?", "user", "allergic_to", False),
    "sister": (["My sister is called {v}.", "My sister {v} visited me."], None,
               "What's my sister's name?", "user", "sister", True),
    "friend": (["{v} is my best friend.", "{v} and I are close friends."], "{v} and I are enemies now after a big fight.",
               "How are things between {v} and me?", "user", "friend_of", False),
    "hobby": (["I've been really into {v} lately.", "My hobby is {v}."], "I gave up my old hobby, now I'm into {v}.",
              "What is my hobby?", "user", "hobby", True),
}  # fmt: skip
POOLS = {"city": CITIES, "job": JOBS, "pet": PETS, "allergy": ALLERGIES, "sister": SISTERS,
         "friend": FRIENDS, "hobby": HOBBIES}  # fmt: skip
DAY = 86400.0
START = 1_700_000_000.0


def user_conversation(rng: random.Random, uid: str, sessions: int, per_session: int) -> dict:
    values = {a: rng.choice(POOLS[a]) for a in ATTRS}
    updated = {a: rng.choice([v for v in POOLS[a] if v != values[a]]) for a in ("city", "job", "hobby")}
    updated["friend"] = values["friend"]
    own = set(values.values()) | set(updated.values())

    def other(attr: str) -> str:  # near misses never use a value this user ever has
        return rng.choice([v for v in POOLS[attr] if v not in own])

    turns: list[dict] = []
    probes: list[dict] = []
    history: dict[str, list[str]] = {}  # attribute -> values stated, oldest first
    plants = list(ATTRS)
    rng.shuffle(plants)
    for s in range(sessions):
        t0 = START + s * 9 * DAY
        planned: list[tuple[str, str, str]] = []  # (kind, attribute, value)
        if s == 0:
            planned += [("plant", a, values[a]) for a in plants[:4]]
        elif s == 1:
            planned += [("plant", a, values[a]) for a in plants[4:]]
        if s >= 2:
            for a in ("city", "job", "friend", "hobby"):
                if a in history and len(history[a]) == 1 and rng.random() < 0.6:
                    planned.append(("update", a, updated[a]))
        slots = sorted(rng.sample(range(per_session), min(len(planned), per_session)))
        plan = dict(zip(slots, planned, strict=False))
        for i in range(per_session):
            at = t0 + i * 120.0
            if i in plan:
                kind, attr, value = plan[i]
                statements, update, _, subject, relation, single = ATTRS[attr]
                if kind == "plant":
                    text = rng.choice(statements).format(v=value)
                    obj, rel = value, relation
                else:
                    text = update.format(v=value)
                    obj, rel = value, "enemy_of" if attr == "friend" else relation
                history.setdefault(attr, []).append(value if attr != "friend" else f"{rel}:{value}")
                turns.append({"text": text, "at": at, "fact": {
                    "attr": attr, "value": value, "subject": subject, "relation": rel, "object": obj,
                    "single": single, "text": _fact_text(attr, rel, value), "importance": 0.9,
                }})  # fmt: skip
            elif rng.random() < 0.25:
                template = rng.choice(NEAR_MISS)
                turns.append({"text": template.format(city=other("city"), job=other("job"), pet=other("pet"),
                              allergy=other("allergy"), hobby=other("hobby")), "at": at})  # fmt: skip
            else:
                turns.append({"text": rng.choice(SMALL_TALK), "at": at})
        if s >= 1:
            for attr, said in history.items():
                question = ATTRS[attr][2].format(v=values["friend"])
                current = said[-1]
                stale = [v for v in said[:-1] if v != current]
                if attr == "friend":  # every word of a group must be in one retrieved text
                    gold, stale_words = _friend_words(current), [_friend_words(v) for v in stale]
                else:
                    gold, stale_words = [current], [[v] for v in stale]
                probes.append({"after_turn": len(turns), "at": t0 + per_session * 120.0, "question": question,
                               "attr": attr, "gold": gold, "stale": stale_words})  # fmt: skip
    return {"user": uid, "turns": turns, "probes": probes}


def _fact_text(attr: str, relation: str, value: str) -> str:
    return {
        "city": f"The user lives in {value}.", "job": f"The user works as a {value}.",
        "pet": f"The user has {value}.", "allergy": f"The user is allergic to {value}.",
        "sister": f"The user's sister is called {value}.", "hobby": f"The user's hobby is {value}.",
    }.get(attr) or (f"The user and {value} are enemies now." if relation == "enemy_of"
                    else f"{value} is the user's best friend.")  # fmt: skip


def _friend_words(tagged: str) -> list[str]:
    """What a retrieved text must say for the friend attribute: the name and 'enem' or 'friend'."""
    relation, name = tagged.split(":", 1)
    return [name, "enem" if relation == "enemy_of" else "friend"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--per-session", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    data = [user_conversation(rng, f"u{i:03d}", args.sessions, args.per_session) for i in range(args.users)]
    json.dump({"seed": args.seed, "users": data}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
