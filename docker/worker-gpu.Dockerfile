# GPU worker: `interactive` (click -> mask) and `embed` (SAM image embeddings) on CUDA.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 ANNOTATOR_ENV=production ANNOTATOR_VAR_DIR=/var/lib/annotator
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv python3.11-dev build-essential \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt requirements-worker.txt ./
# PyPI's torch wheels for Linux x86_64 are CUDA builds.
RUN pip install -r requirements-worker.txt
COPY manage.py ./
COPY formats formats
COPY annotator annotator
COPY api api
COPY frontend frontend
COPY workers workers
RUN useradd --system --uid 1000 annotator && mkdir -p /var/lib/annotator /models \
    && chown -R annotator /var/lib/annotator
USER annotator
# One process per GPU: the model is loaded once per process and embeddings are batched.
ENV WORKER_QUEUES=interactive,embed WORKER_CONCURRENCY=1
HEALTHCHECK --interval=30s --timeout=10s --retries=3 \
    CMD celery -A annotator inspect ping -d "gpu@$HOSTNAME" --timeout 5 || exit 1
CMD ["sh", "-c", "exec celery -A annotator worker -Q \"$WORKER_QUEUES\" -c \"$WORKER_CONCURRENCY\" -P solo -n gpu@$HOSTNAME --loglevel INFO"]
