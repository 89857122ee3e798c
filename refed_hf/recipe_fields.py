"""What each recipe field is for, declared once on the field: its concern, whether it shapes the data,
whether a recipe fetched from the Hub may set it, its description and default, what `--offline`
changes it to, and how it is spelled as a flag.

Everything that used to keep its own list or copy of these reads them from here: `recipe.toml` and
the same-release check (which fields shape the data), the command line (flags, types, help texts),
`--offline` (its defaults) and the configuration reference in the docs (generated, never edited).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel, Field

Group = Literal["seed", "teacher", "sampling", "filters", "selection", "split", "card", "run", "publish"]
# A field shapes the data (True), does not (False), or does only when the teacher is the embedded
# local server, which is asked with capped schemas within its context ("local").
Shapes = bool | Literal["local"]

GROUPS: dict[Group, str] = {
    "seed": "Where the reference pairs come from and how they are read.",
    "teacher": "Which model answers, and how it is asked.",
    "sampling": "How many records, from which references, and the teacher's sampling.",
    "filters": "Which records are dropped before they are accepted.",
    "selection": "The LLM judge of each record, and the subset configs chosen from split train.",
    "split": "The held-out test split.",
    "card": "The release's version, licence and language, and what it republishes of the seed.",
    "run": "Where and how fast the build runs, and what it may spend. These do not shape the data.",
    "publish": "Where the release goes on the Hub. These do not shape the data.",
}
_NOT_OFFLINE = object()


def option(
    default: Any,
    description: str,
    *,
    group: Group,
    shapes_data: Shapes = False,
    from_hub: bool = False,
    metavar: str | None = None,
    unset: str | None = None,
    offline: Any = _NOT_OFFLINE,
    flag: bool = True,
    **constraints: Any,
) -> Any:
    """A recipe field. `unset` says what a None default means (e.g. "no limit"); `offline` is the
    default under `--offline`; `flag=False` keeps a field to recipe files only.

    `from_hub=True` lets a recipe fetched from the Hub (somebody else's file) set the field: only fields
    that shape the data and cannot point the build at a key, a file, a folder, a repo or the spend."""
    extra: dict[str, Any] = {"group": group, "shapes_data": shapes_data, "from_hub": from_hub, "flag": flag}
    if metavar is not None:
        extra["metavar"] = metavar
    if unset is not None:
        extra["unset"] = unset
    if offline is not _NOT_OFFLINE:
        extra["offline_default"] = offline
    return Field(default, description=description, json_schema_extra=extra, **constraints)


@dataclass(frozen=True)
class FieldSpec:
    """One recipe field as the CLI, the docs and the release see it."""

    name: str
    group: Group
    shapes_data: Shapes
    from_hub: bool
    description: str
    default: Any
    annotation: Any
    metadata: tuple[Any, ...]
    metavar: str | None
    unset: str | None
    has_flag: bool
    has_offline_default: bool
    offline_default: Any

    @property
    def flag(self) -> str | None:
        """The flag's spelling: `--no-x` turns off a field that is on by default; None = recipe file only."""
        if not self.has_flag:
            return None
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.default is True else f"--{dashed}"

    @property
    def opposite_flag(self) -> str | None:
        """A boolean field's other spelling (`--x` beside `--no-x`), so a flag can undo a recipe file."""
        if not self.has_flag or not isinstance(self.default, bool):
            return None
        dashed = self.name.replace("_", "-")
        return f"--{dashed}" if self.default is True else f"--no-{dashed}"

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The values of a Literal-typed field (a field that also takes numbers has none)."""
        args = _without_none(self.annotation)
        if len(args) == 1 and typing.get_origin(args[0]) is Literal:
            return typing.get_args(args[0])
        return None

    def value_types(self) -> tuple[Any, ...]:
        """The annotation's alternatives, None left out: `int | None` → (int,)."""
        return _without_none(self.annotation)


def _without_none(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return tuple(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return (annotation,)


def field_specs(model: type[BaseModel]) -> list[FieldSpec]:
    """Every field of `model`, in declaration order; a field declared without `option` is an error."""
    specs = []
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if not isinstance(extra, dict) or "group" not in extra or not info.description:
            raise TypeError(f"{model.__name__}.{name} must be declared with option(...)")
        specs.append(
            FieldSpec(
                name=name,
                group=extra["group"],  # type: ignore[arg-type]
                shapes_data=extra["shapes_data"],  # type: ignore[arg-type]
                from_hub=bool(extra["from_hub"]),
                description=info.description,
                default=info.default,
                annotation=info.annotation,
                metadata=tuple(info.metadata),
                metavar=extra.get("metavar"),  # type: ignore[arg-type]
                unset=extra.get("unset"),  # type: ignore[arg-type]
                has_flag=bool(extra["flag"]),
                has_offline_default="offline_default" in extra,
                offline_default=extra.get("offline_default"),
            )
        )
    return specs


def shown(value: Any) -> str:
    """A default as help texts and the docs show it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
