# A GPU worker for the student pool (fair-gpu): student inference, training and evaluation.
#   docker build -f deployments/docker/cuda.Dockerfile -t fair-gpu .
#   docker run --gpus all -e PREFECT_API_URL=http://server:4200/api -e PGPASSWORD ... fair-gpu
# vLLM needs its own environment (it cannot share one with Prefect): scripts/setup_vllm_env.sh makes it.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
RUN apt-get update && apt-get install -y --no-install-recommends python3.11 python3.11-venv git \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/fair
ENV FAIR_HOME=/opt/fair PIP_NO_CACHE_DIR=1 PREFECT_SERVER_ANALYTICS_ENABLED=false \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python3.11 -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY fair_core fair_core
COPY flows flows
COPY tasks tasks
COPY deployments deployments
COPY scripts scripts
RUN pip install "torch==2.13.0" && pip install ".[postgres,storage]"
CMD ["prefect", "worker", "start", "--pool", "fair-gpu"]
