"""newsbeam on Airflow: an hourly incremental run, as a Dataflow Flex Template or locally.

Copy this file into the DAGs folder and set the Airflow Variables ``newsbeam_project``,
``newsbeam_region``, ``newsbeam_bucket`` (and, for the local task, ``newsbeam_home``).
Each run reads only files that no committed run has read (``--incremental`` with a
manifest under the state prefix), so retries and catch-up runs never duplicate records:
a retried run selects the same files, gets the same run id and rewrites the same output
folder. ``max_active_runs=1`` keeps two runs from selecting the same new files at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.models import Variable
from airflow.operators.bash import BashOperator
from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator

PROJECT = Variable.get("newsbeam_project", default_var="my-project")
REGION = Variable.get("newsbeam_region", default_var="europe-west1")
BUCKET = Variable.get("newsbeam_bucket", default_var="my-newsbeam-bucket")
HOME = Variable.get("newsbeam_home", default_var="/opt/newsbeam")

default_args = {"retries": 2, "retry_delay": timedelta(minutes=5)}

with DAG(
    dag_id="newsbeam_hourly",
    start_date=datetime(2025, 1, 1),
    schedule="7 * * * *",
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["newsbeam"],
) as dag:
    on_dataflow = DataflowStartFlexTemplateOperator(
        task_id="newsbeam_on_dataflow",
        project_id=PROJECT,
        location=REGION,
        wait_until_finished=True,
        body={
            "launchParameter": {
                "jobName": "newsbeam-{{ ts_nodash | lower }}",
                "containerSpecGcsPath": f"gs://{BUCKET}/templates/newsbeam.json",
                "parameters": {
                    "input": f"gs://{BUCKET}/incoming/**/*.jsonl",
                    "output": f"gs://{BUCKET}/newsbeam/out",
                    "state": f"gs://{BUCKET}/newsbeam/state",
                    "incremental": "true",
                },
                "environment": {"tempLocation": f"gs://{BUCKET}/tmp", "maxWorkers": 4},
            }
        },
    )

    # The same run on the Airflow worker itself (DirectRunner), e.g. for a small deployment.
    on_worker = BashOperator(
        task_id="newsbeam_on_worker",
        bash_command=(
            f"cd {HOME} && .venv/bin/python -m pipeline --input '/data/incoming/**/*.jsonl' "
            "--output /data/newsbeam/out --state /data/newsbeam/state --incremental"
        ),
    )
    on_worker.doc_md = "Alternative to newsbeam_on_dataflow; delete the task you do not use."
