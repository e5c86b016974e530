# syntax=docker/dockerfile:1
# One image for every shoal process: `shoal worker`, `shoal beat`, `shoal autoscaler`, ...
# Application teams build FROM it and add their task modules (see docs/install.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: wheels for shoal and its dependencies, installed into a venv ------------------
FROM ${PYTHON_IMAGE} AS builder
# A compiler only for dependencies without a binary wheel; it stays in this stage.
# DL3008 (pin apt versions) is off here: these packages follow the base image's Debian release,
# and nothing from them reaches the runtime stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The locked, hashed sets (requirements/*.txt, exported from uv.lock by `make lock`): the image
# runs exactly the versions CI tested. image.txt is the platform extra (`shoal[platform]`), the
# whole runtime; shoal without that extra is the light publisher kit for teams' web apps.
# The build backend gets a venv of its own in this stage.
COPY requirements/image.txt requirements/build.txt ./requirements/
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes -r requirements/build.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r requirements/image.txt
COPY pyproject.toml README.md ./
COPY shoal ./shoal
COPY workers ./workers
COPY scheduler ./scheduler
COPY contract ./contract
# scheduler/simulate/chart-values.yaml links to the chart's defaults; the wheel carries a copy.
COPY charts/shoal/values.yaml ./charts/shoal/values.yaml
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-deps --no-index /wheels/shoal-*.whl \
    && /opt/venv/bin/pip check \
    && rm -rf /opt/venv/lib/python3.11/site-packages/kubernetes/aio \
    && /opt/venv/bin/python -c "from kubernetes import client, config" \
    && /opt/venv/bin/shoal --help >/dev/null
# (kubernetes/aio is the asyncio twin of the API client, about 68 MB; shoal uses kubernetes.client.)

# --- runtime: no compiler, non-root (pip stays in the venv for images built FROM this one) --
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="shoal" \
      org.opencontainers.image.description="Autoscaling Celery-on-Redis worker platform" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 shoal \
    && useradd --system --uid 10001 --gid shoal --home-dir /app --shell /usr/sbin/nologin shoal
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app
WORKDIR /app
USER 10001:10001
EXPOSE 9808 9809
ENTRYPOINT ["shoal"]
CMD ["worker"]
