# The same pinned requirements and DAGs as the pip path (make demo / make up).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml /opt/orderbridge/
COPY --chown=airflow:root include /opt/orderbridge/include
RUN pip install --no-cache-dir -r /opt/orderbridge/requirements.txt -c /opt/orderbridge/constraints.txt \
 && pip install --no-cache-dir --no-deps -e /opt/orderbridge
