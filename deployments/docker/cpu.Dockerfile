# A CPU worker for the teacher pool (fair-cpu): the round and the committee stages.
#   docker build -f deployments/docker/cpu.Dockerfile -t fair-cpu .
#   docker run -e PREFECT_API_URL=http://server:4200/api -e PGPASSWORD -e OPENAI_API_KEY ... fair-cpu
FROM python:3.11-slim
WORKDIR /opt/fair
ENV FAIR_HOME=/opt/fair PIP_NO_CACHE_DIR=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
COPY pyproject.toml README.md ./
COPY fair_core fair_core
COPY flows flows
COPY tasks tasks
COPY deployments deployments
# the CPU build of torch first, so the install below does not pull the CUDA one
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
 && pip install ".[providers,postgres,storage]"
CMD ["prefect", "worker", "start", "--pool", "fair-cpu"]
