# syntax=docker/dockerfile:1.7
# shelfscan API image: CPU-only torch, non-root, migrations on start.
#
#   docker build -t shelfscan .
#   docker run -p 8000:8000 -v shelfscan-data:/data shelfscan

ARG PYTHON_VERSION=3.11
ARG TORCH_VERSION=2.15.0
ARG TORCHVISION_VERSION=0.29.2

FROM python:${PYTHON_VERSION}-slim AS build
ARG TORCH_VERSION
ARG TORCHVISION_VERSION
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN pip install "uv==0.13.9" \
    && python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU builds of torch/torchvision from PyTorch's own CPU wheel index, pinned to the lock file's
# versions; the rest of the lock file without the CUDA wheels PyPI's torch would bring.
RUN pip install --index-url https://download.pytorch.org/whl/cpu \
        "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"
COPY pyproject.toml uv.lock README.md LICENSE ./
RUN uv export --frozen --no-dev --no-hashes --no-emit-project -o /tmp/requirements.txt \
    && grep -vE '^(torch|torchvision|triton|cuda-|nvidia-(cu|nccl|nv))' /tmp/requirements.txt \
        > /tmp/requirements-cpu.txt \
    && pip install --no-deps -r /tmp/requirements-cpu.txt
COPY shelfscan ./shelfscan
RUN pip install --no-deps .

FROM python:${PYTHON_VERSION}-slim AS runtime
# libgl/libglib: OpenCV, which ultralytics imports.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 shelfscan \
    && useradd --system --uid 10001 --gid shelfscan --home-dir /app --shell /usr/sbin/nologin shelfscan \
    && mkdir -p /data \
    && chown shelfscan:shelfscan /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=shelfscan:shelfscan alembic ./alembic
COPY --chown=shelfscan:shelfscan planograms ./planograms
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    YOLO_OFFLINE=1 \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    SHELFSCAN_DATA_DIR=/data \
    SHELFSCAN_PROJECT_ROOT=/app \
    SHELFSCAN_MIGRATE_ON_START=true
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8000/healthz"]
CMD ["shelfscan", "serve", "--host", "0.0.0.0", "--port", "8000"]
