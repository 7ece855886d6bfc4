"""The paraphrase set of bench/CACHE.md: question pairs that should hit (same question,
other words) and near-misses that must not (same words, another entity or intent).

Built from 20 templates, each written twice in different words, over 5 entities: 100
positive pairs (wording A with entity e, wording B with e) and 100 entity near-misses
(wording A with e, wording B with the next entity), plus 20 hand-written intent changes.
"""

from __future__ import annotations

COUNTRIES = ["France", "Japan", "Brazil", "Canada", "Egypt"]
LANGS = ["Python", "JavaScript", "Rust", "Go", "Java"]
LANGUAGES = ["Spanish", "German", "Japanese", "Italian", "Portuguese"]
FOODS = ["spinach", "blueberries", "salmon", "oatmeal", "almonds"]
CONCEPTS = ["photosynthesis", "a blockchain", "the immune system", "a neural network", "inflation"]
ANIMALS = ["a cat", "a dog", "a rabbit", "a parrot", "a hamster"]
CITIES = ["Paris", "Tokyo", "Montreal", "Berlin", "Lisbon"]
TOOLS = ["Docker", "Git", "PostgreSQL", "Kubernetes", "Redis"]
WRITERS = ["Shakespeare", "Tolstoy", "Jane Austen", "Victor Hugo", "Cervantes"]
SPORTS = ["tennis", "chess", "basketball", "golf", "volleyball"]

TEMPLATES: list[tuple[str, str, list[str]]] = [
    ("What is the capital of {}?", "Which city is the capital of {}?", COUNTRIES),
    ("What is the population of {}?", "How many people live in {}?", COUNTRIES),
    ("How do I reverse a list in {}?", "What's the way to reverse a list in {}?", LANGS),
    ("How do I read a file line by line in {}?", "In {}, how can I read a file one line at a time?", LANGS),
    ("Translate 'good morning' into {}.", "How do you say 'good morning' in {}?", LANGUAGES),
    (
        "Is {} hard to learn for an English speaker?",
        "How difficult is {} for native English speakers?",
        LANGUAGES,
    ),
    ("What are the health benefits of {}?", "Why is eating {} good for your health?", FOODS),
    ("How many calories are in a serving of {}?", "What is the calorie count of one portion of {}?", FOODS),
    ("Explain how {} works.", "Can you explain to me how {} works?", CONCEPTS),
    ("Give me a simple definition of {}.", "Define {} in simple terms.", CONCEPTS),
    ("How often should I feed {}?", "How many times a day does {} need to eat?", ANIMALS),
    ("What is the average lifespan of {}?", "How long does {} usually live?", ANIMALS),
    ("What are the best things to do in {}?", "What should I see when visiting {}?", CITIES),
    ("What is the weather like in {} in winter?", "How cold does {} get during the winter?", CITIES),
    ("How do I install {} on Ubuntu?", "What are the steps to install {} on Ubuntu?", TOOLS),
    ("What is {} used for?", "What do people use {} for?", TOOLS),
    ("What are the most famous works of {}?", "Which books by {} are the best known?", WRITERS),
    ("When was {} born?", "In what year was {} born?", WRITERS),
    ("What are the basic rules of {}?", "Can you explain the basic rules of {}?", SPORTS),
    ("How can I get better at {}?", "What are tips to improve at {}?", SPORTS),
]

INTENT_CHANGES: list[tuple[str, str]] = [
    ("How do I install Docker on Ubuntu?", "How do I uninstall Docker on Ubuntu?"),
    ("How do I convert Celsius to Fahrenheit?", "How do I convert Fahrenheit to Celsius?"),
    ("What are the advantages of remote work?", "What are the disadvantages of remote work?"),
    ("How do I create a Git branch?", "How do I delete a Git branch?"),
    ("Write a poem about the sea.", "Write a short story about the sea."),
    ("What foods are high in iron?", "What foods are low in iron?"),
    ("How do I start a PostgreSQL server?", "How do I stop a PostgreSQL server?"),
    ("Summarize the causes of World War I.", "Summarize the consequences of World War I."),
    ("How do I increase my credit score?", "What lowers my credit score?"),
    ("What time is it in Tokyo?", "What time zone is Tokyo in?"),
    (
        "How do I sort a list in ascending order in Python?",
        "How do I sort a list in descending order in Python?",
    ),
    ("Is coffee good for you?", "Is coffee bad for you?"),
    ("How do I encrypt a file with GPG?", "How do I decrypt a file with GPG?"),
    ("What is the boiling point of water?", "What is the freezing point of water?"),
    ("Who won the 2018 World Cup?", "Who won the 2014 World Cup?"),
    ("How do I upload a file to S3?", "How do I download a file from S3?"),
    ("Recommend a book for a beginner programmer.", "Recommend a book for an expert programmer."),
    ("What is the fastest land animal?", "What is the slowest land animal?"),
    ("How do I add a user on Linux?", "How do I remove a user on Linux?"),
    ("Translate 'thank you' into French.", "Translate 'you're welcome' into French."),
]


def pairs() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(should match, should not match)."""
    match, near = [], []
    for a, b, entities in TEMPLATES:
        for i, e in enumerate(entities):
            match.append((a.format(e), b.format(e)))
            near.append((a.format(e), b.format(entities[(i + 1) % len(entities)])))
    return match, near + INTENT_CHANGES
