"""Typer commands: parse options, call the core, render. No logic lives here."""
