"""``cnninspect schema``: the JSON Schema of the spec format, for editors."""

from __future__ import annotations

import click


@click.command("schema")
def schema() -> None:
    """Print the JSON Schema of the spec format (generated from the layer-type registry).

    \b
    For VS Code's YAML extension, save it and name it on a spec's first line:
      cnninspect schema > cnninspect.schema.json
      # yaml-language-server: $schema=./cnninspect.schema.json
    """
    from ..lang.schema import schema_text
    from .common import write_out

    write_out(schema_text())
