"""The dataset card of a REFED release: its template and its rendering."""

from .render import render_card

__all__ = ["render_card"]
