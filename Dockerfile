# The same pinned requirements and DAGs as the pip path (make demo / make up). The Airflow services
# install the product's requirements.txt; the compose `sandbox` service builds with
# REQUIREMENTS=requirements-sandbox.txt, which adds the sandbox's own (Faker).
FROM apache/airflow:3.3.2-python3.11
ARG REQUIREMENTS=requirements.txt
COPY --chown=airflow:root requirements.txt requirements-sandbox.txt constraints.txt pyproject.toml /opt/orderbridge/
COPY --chown=airflow:root include /opt/orderbridge/include
RUN pip install --no-cache-dir -r /opt/orderbridge/${REQUIREMENTS} -c /opt/orderbridge/constraints.txt \
 && pip install --no-cache-dir --no-deps -e /opt/orderbridge
