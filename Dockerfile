# syntax=docker/dockerfile:1
# One image for every ratecard process: `serve` (default), `watcher` or `bot`.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pricing ./pricing
COPY service ./service
COPY bot ./bot
# Same install as the README's first command, into a venv we copy into the runtime stage.
RUN python3 -m venv /opt/ratecard && /opt/ratecard/bin/pip install .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/ratecard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RATECARD_HOST=0.0.0.0 \
    RATECARD_PORT=8000 \
    RATECARD_DATABASE_URL=sqlite:////data/ratecard.db
RUN groupadd --system --gid 10001 ratecard \
    && useradd --system --uid 10001 --gid ratecard --home-dir /data --no-create-home ratecard \
    && mkdir -p /data && chown ratecard:ratecard /data
COPY --from=build /opt/ratecard /opt/ratecard
# The tokenizer files ship inside the installed package; verify them at build time so a broken
# image fails here, not at the first estimate.
RUN python -c "from pricing.tokens import verify_encodings; verify_encodings()"
USER 10001:10001
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('RATECARD_PORT','8000')}/healthz\", timeout=2)"]
ENTRYPOINT ["ratecard"]
CMD ["serve"]
