"""Running feedvault under Airflow 3: the task logic behind ``dags/feedvault_nightly.py``.

Modules are cheap to import (the DAG processor imports them on every parse); anything heavy (Scrapy, boto3,
the runner) is imported inside the functions that run in tasks.
"""
