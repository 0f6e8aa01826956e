# The gateway's image: pinned dependencies from requirements.lock (`make lock` refreshes it), then the project
# itself with --no-deps, run as an unprivileged user, listening on every interface of the container.
# The same image runs a standalone reference commons (`gateway refcommons serve …`, see docker-compose.yml).
#   docker build -t gateway .
#   docker run -p 8080:8080 gateway          # then: curl http://localhost:8080/_status
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app
# the lock first: this layer is rebuilt only when the pinned set changes, not on every source edit
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY refcommons ./refcommons
# --no-deps: everything the project needs is in the lock; `pip check` fails the build if the lock misses one
RUN pip install --no-deps . && pip check && rm -rf /app/build

# an unprivileged user (numeric uid, so `runAsNonRoot` orchestrators can verify it) owning only /data: the
# state directory (the default SQLite store, exports, an in-process or standalone commons' keys). Relative
# defaults such as `sqlite:///./var/gateway.sqlite3` resolve under it. Mount a volume there to keep it.
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /data --no-create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /data && chown gateway:gateway /data
WORKDIR /data
USER 10001:10001

# listen on every interface inside the container (the setting's default, 127.0.0.1, is unreachable through a
# published port); the public URL is what `docker run -p 8080:8080` makes of it: override it behind a proxy.
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_PUBLIC_URL=http://localhost:8080
EXPOSE 8080

# healthy while /_status answers 2xx (it answers 200 with status ok or degraded); no curl in the image: the
# interpreter's urllib, on the port the gateway is configured with. A refcommons container overrides this
# check (docker-compose.yml: /index/_status on its own port).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_status' % os.environ.get('GATEWAY_PORT', '8080'), timeout=2)"]

CMD ["gateway", "serve"]
