"""The label set, read from the packaged machine-readable codebook (``codebook.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Label:
    """One framing label: its name, a title, a one-line description and in/out rules."""

    name: str
    title: str
    description: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]


@lru_cache(maxsize=1)
def load_codebook() -> tuple[Label, ...]:
    """Return the labels in codebook order."""
    raw = yaml.safe_load(resources.files("app").joinpath("codebook.yaml").read_text("utf-8"))
    return tuple(
        Label(
            name=item["name"],
            title=item["title"],
            description=item["description"].strip(),
            include=tuple(item.get("include", ())),
            exclude=tuple(item.get("exclude", ())),
        )
        for item in raw["labels"]
    )


LABELS: tuple[str, ...] = tuple(label.name for label in load_codebook())
