# Framing classifier service. Build: docker build -t framing .   Run: docker run -p 8000:8000 framing
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY training/__init__.py training/corpus.py training/train.py training/evaluate.py ./training/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin framing
COPY --from=build /opt/venv /opt/venv
# the model is part of the image, owned by root and read-only for the service user
COPY --chown=root:root --chmod=0444 models/framing.skops models/framing.npz models/framing.json /opt/framing/models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    FRAMING_MODEL_PATH=/opt/framing/models/framing.skops \
    WORKERS=2
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["sh", "-c", "exec framing serve --host 0.0.0.0 --port 8000 --workers \"${WORKERS}\""]
