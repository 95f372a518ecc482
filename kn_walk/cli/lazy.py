"""The root command group, whose sub-commands are imported only when they are used.

Typer turns every command function into a click command by inspecting its
signature and evaluating its annotations: about 2 ms a command, 40 ms for all of
knwalk's, before ``knwalk --help`` could print a line. :class:`LazyGroup` lists
its commands from :data:`kn_walk.cli.index.COMMANDS` and converts a module's
commands the first time one of them is looked up (to run it, complete it, or
print its own help); the root help needs only the index.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import typer
import typer.main

from kn_walk.cli.common import KnwalkGroup
from kn_walk.cli.index import COMMANDS, Entry


class LazyCommands(MutableMapping[str, Any]):
    """A group's ``commands`` mapping: every indexed name is a key; its value (the click
    command) is built on first access, together with the rest of its module's."""

    def __init__(self, loaded: Mapping[str, Any], index: Mapping[str, Entry]) -> None:
        self._loaded: dict[str, Any] = dict(loaded)
        self._index = index

    def loaded(self, name: str) -> Any | None:
        """The command if it has been built, without building it."""
        return self._loaded.get(name)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            entry = self._index.get(name)
            if entry is None:
                raise KeyError(name)
            self._load(entry.module)
        return self._loaded[name]

    def _load(self, module_name: str) -> None:
        module = importlib.import_module(module_name)
        holder = typer.Typer(rich_markup_mode=None)
        module.register(holder)
        group = typer.main.get_group(holder)
        expected = {n for n, e in self._index.items() if e.module == module_name}
        if set(group.commands) != expected:
            raise RuntimeError(
                f"{module_name} registers {sorted(group.commands)}, "
                f"but kn_walk/cli/index.py lists {sorted(expected)} for it"
            )
        for name, command in group.commands.items():
            self._loaded.setdefault(name, command)

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name in self._index:
            raise KeyError(f"{name} is indexed and cannot be removed")
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._index
        yield from (name for name in self._loaded if name not in self._index)

    def __len__(self) -> int:
        return len(self._index) + sum(1 for name in self._loaded if name not in self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index or name in self._loaded


class LazyGroup(KnwalkGroup):
    """The ``knwalk`` group: commands from the index, built when first used."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.commands, COMMANDS)

    def list_commands(self, ctx: Any) -> list[str]:
        """The names, in the index's order, without building any command."""
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The Commands section from the index, building no command that is not built yet."""
        commands = self.commands
        assert isinstance(commands, LazyCommands)
        rows: list[tuple[str, str]] = []
        limit = formatter.width - 6 - max(len(n) for n in commands)  # as click's, for built ones
        for name in self.list_commands(ctx):
            command = commands.loaded(name)
            if command is None:
                rows.append((name, COMMANDS[name].short_help))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
