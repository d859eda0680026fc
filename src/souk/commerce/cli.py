"""``souk products …``: catalog commands (registered on the main ``souk`` command in :mod:`souk.cli`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

products_app = typer.Typer(help="The product catalog: import CSV or JSON files.", no_args_is_help=True)
out = Console()


@products_app.command("import")
def import_products(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .csv or .json file.")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")] = "demo",
) -> None:
    """Upsert products from FILE by SKU (else external id); bad rows are listed, good rows are kept.

    CSV: a header line with name, price, currency and optionally description, stock, category, tags, images
    (lists separated by "|"), is_bestseller, is_active, sku, external_id. JSON: an array of such objects.
    """
    from souk.cli import _database, _fail, _settings, console
    from souk.commerce.catalog import import_file
    from souk.commerce.importer import format_of
    from souk.core import service
    from souk.core.errors import SoukError

    settings = _settings()

    async def _go():
        db = _database(settings)
        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            async with db.system_session() as system:
                tenant_id = (await service.get_tenant_by_slug(system, tenant)).id
            with Progress(*columns, console=console) as bar:
                task = bar.add_task("import", total=None)
                async with db.tenant_session(tenant_id) as session:
                    return await import_file(
                        session,
                        tenant_id,
                        file.read_bytes(),
                        format_of(file.name, None),
                        on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                    )
        except SoukError as exc:
            reasons = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors or [])
            raise _fail(f"{exc.detail}" + (f" ({reasons})" if reasons else "")) from None
        finally:
            await db.dispose()

    report = asyncio.run(_go())
    out.print(f"created {report.created}, updated {report.updated}, {len(report.errors)} row error(s)")
    if report.errors:
        table = Table("row", "field", "reason")
        for err in report.errors:
            table.add_row(str(err.row), err.field, err.reason)
        out.print(table)
        raise typer.Exit(1)
