"""docs/pipeline.md's `commands` block: every `lenet` command, from the CLI's registry."""

from __future__ import annotations

from pathlib import Path

from docgen.markdown import markdown_table


def actions(command) -> str:
    """ start\\|stop\\|status: a command's positional choices (pipes escaped: a table cell)."""
    return "".join(" " + "\\|".join(settings["choices"]) for flags, settings in command.options
                   if not flags[0].startswith("-") and "choices" in settings)


def commands_section(root: Path) -> str:
    """docs/pipeline.md: every `lenet` command and what it does, from the CLI's registry."""
    from pipeline.cli import REGISTRY
    from pipeline.command import GROUPS

    parts = []
    for group, heading in GROUPS.items():
        rows = [
            [
                f"`lenet {c.name}{actions(c)}`" + (" `--dataset NAME`" if c.per_dataset else ""),
                c.help,
            ]
            for c in REGISTRY.values()
            if c.group == group
        ]
        if rows:
            parts.append(f"{heading[0].upper()}{heading[1:]}:\n\n"
                         + markdown_table(["command", "what it does"], rows))
    return (
        "\n\n".join(parts)
        + "\n\nGenerated from `pipeline/cli.py` by `python -m docgen`."
    )
