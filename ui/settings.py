"""Page settings a user would want in a shared link: each kept across page switches and mirrored in the URL.

A page declares its settings with ``restore(Setting(...), ...)`` before drawing its widgets; the
shell keeps their values aside after the page ran (a page switch drops widget state) and writes
those that differ from their defaults into the query string. URL values are parsed and checked
like any user input: a bad one falls back to the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from ui.state import ACTIVE, KEPT, sync_url


@dataclass(frozen=True)
class Setting:
    """One page setting a user would want in a shared link: session key = widget key = URL key."""

    key: str
    default: object
    choices: tuple = ()  # allowed values ((): any value parse accepts)
    parse: Callable[[str], object] = str  # URL text -> value; ValueError for bad text

    def from_text(self, text: str | None) -> object:
        """The URL's value, or the default when missing or not a valid value."""
        if text is None:
            return self.default
        try:
            value = self.parse(text)
        except (TypeError, ValueError):
            return self.default
        return value if not self.choices or value in self.choices else self.default

    def text(self, value: object) -> str:
        return ("1" if value else "0") if isinstance(value, bool) else str(value)

    def accepts(self, value: object) -> bool:
        """Whether ``value`` is one this setting can hold: its URL text reads back as the same value."""
        if isinstance(self.default, bool) != isinstance(value, bool):
            return False
        try:
            back = self.parse(self.text(value))
        except (TypeError, ValueError):
            return False
        return back == value and (not self.choices or value in self.choices)


def flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


def bounded_int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        v = int(text)
        if not lo <= v <= hi:
            raise ValueError(text)
        return v

    return parse


def restore(*settings: Setting) -> None:
    """Before a page draws its widgets: give each setting its value, from the widget itself, the kept copy
    (the user's choice on an earlier visit of this page), the URL, or the default. Registers them for the URL."""
    kept = st.session_state.setdefault(KEPT, {})
    for s in settings:
        if s.key not in st.session_state:
            value = kept[s.key] if s.key in kept else s.from_text(st.query_params.get(s.key))
            if s.choices and value not in s.choices:
                value = s.default
            st.session_state[s.key] = value
    st.session_state[ACTIVE] = (*st.session_state.get(ACTIVE, ()), *settings)
    # the URL now, not only when the page has run: a slow run (a new colouring) would leave an old link meanwhile
    sync_url()


def keep() -> None:
    """After a page ran: copy its settings' values aside, so a page switch (which drops widget state) loses none."""
    kept = st.session_state.setdefault(KEPT, {})
    for s in st.session_state.get(ACTIVE, ()):
        if s.key in st.session_state and s.accepts(st.session_state[s.key]):
            kept[s.key] = st.session_state[s.key]
