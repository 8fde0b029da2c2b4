# CPU worker: the `jobs` queue (exports, imports, thumbnails) and, on machines without a
# GPU, `interactive` and `embed` with the classical engine or SAM on the CPU.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ANNOTATOR_ENV=production ANNOTATOR_VAR_DIR=/var/lib/annotator
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt requirements-worker.txt ./
# The CPU build of torch keeps this image small (no CUDA libraries).
RUN pip install torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu \
    && pip install -r requirements-worker.txt
COPY manage.py ./
COPY formats formats
COPY annotator annotator
COPY api api
COPY frontend frontend
COPY workers workers
RUN useradd --system --uid 1000 annotator && mkdir -p /var/lib/annotator \
    && chown -R annotator /var/lib/annotator
USER annotator
ENV WORKER_QUEUES=jobs WORKER_CONCURRENCY=2
HEALTHCHECK --interval=30s --timeout=10s --retries=3 \
    CMD celery -A annotator inspect ping -d "worker@$HOSTNAME" --timeout 5 || exit 1
CMD ["sh", "-c", "exec celery -A annotator worker -Q \"$WORKER_QUEUES\" -c \"$WORKER_CONCURRENCY\" -O fair -n worker@$HOSTNAME --loglevel INFO"]
