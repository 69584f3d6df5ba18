"""``--bigquery_dataset``: the launcher's part of the BigQuery tables (``transforms/io/bigquery.py``).

Before a streaming job: create the main tables (partitioned, clustered). Before a batch job:
nothing (the job creates its staging tables). After it succeeded:
create each main table if needed (schema, day partitions on ``published_date``, clustering),
MERGE the run's staging table into it, drop the staging table. A run that fails leaves the
main tables untouched; its staging tables are replaced by the next attempt of the same run.
"""

from __future__ import annotations

import logging

from transforms.io.bigquery import CLUSTERING, BigQueryTarget, bq_schema, merge_sql
from transforms.io.tables import PARTITION_KEY, TABLES

_log = logging.getLogger(__name__)


def _schema_fields(fields: list[dict]):
    from google.cloud import bigquery

    return [
        bigquery.SchemaField(f["name"], f["type"], mode=f["mode"], fields=_schema_fields(f.get("fields", [])))
        for f in fields
    ]


def ensure_table(client, target: BigQueryTarget, table) -> None:
    """Create a main table unless it exists: schema, day partitions on ``published_date``, clustering."""
    from google.cloud import bigquery

    main = bigquery.Table(f"{target.project}.{target.dataset}.{table.name}",
                          schema=_schema_fields(bq_schema(table)["fields"]))
    if table.date_column is not None:
        main.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=PARTITION_KEY)
    main.clustering_fields = CLUSTERING[table.name]
    client.create_table(main, exists_ok=True)


def prepare_streaming(target: BigQueryTarget, client=None) -> None:
    """Before a streaming job: the main tables, partitioned and clustered (Beam's Storage Write API
    sink would create them with clustering but no partitioning)."""
    from google.cloud import bigquery

    client = client or bigquery.Client(project=target.project)
    for table in TABLES:
        ensure_table(client, target, table)


def publish(target: BigQueryTarget, client=None) -> dict[str, int]:
    """MERGE every staged table of ``target.run`` into its main table; return the rows each added."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    client = client or bigquery.Client(project=target.project)
    added: dict[str, int] = {}
    for table in TABLES:
        staging_id = f"{target.project}.{target.dataset}._staging_{table.name}_{target.run}"
        try:
            client.get_table(staging_id)
        except NotFound:  # no row of this table in the run: FILE_LOADS created nothing
            added[table.name] = 0
            continue
        ensure_table(client, target, table)
        job = client.query(merge_sql(target, table))
        job.result()
        added[table.name] = int(job.num_dml_affected_rows or 0)
        client.delete_table(staging_id, not_found_ok=True)
        _log.info("bigquery: %s + %d rows", table.name, added[table.name])
    return added
