"""Writing help: optional prompts by role, kept as shipped data so practice can change them."""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from relay.models import Role

PROMPTS = Path(__file__).resolve().parent.parent / "data" / "writing-prompts.json"


@dataclass(frozen=True)
class Prompt:
    heading: str
    prompt: str


@dataclass(frozen=True)
class WritingHelp:
    prompts: tuple[Prompt, ...]
    avoid: tuple[str, ...]


@cache
def _data() -> dict:
    return json.loads(PROMPTS.read_text(encoding="utf-8"))


def writing_help(role: Role) -> WritingHelp:
    data = _data()
    return WritingHelp(
        prompts=tuple(Prompt(**item) for item in data.get(str(role), [])),
        avoid=tuple(data["avoid"]),
    )
