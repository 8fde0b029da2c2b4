# Web process: Django + DRF under gunicorn. No torch in this image (the web side never
# imports it); masks are encoded with pycocotools, images read with Pillow.
# The browser UI is TypeScript compiled by tsc; the compiled modules are not in git.
FROM node:20-slim AS frontend
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json frontend/tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/src src
RUN npm run build

FROM python:3.11-slim AS web
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    ANNOTATOR_ENV=production ANNOTATOR_VAR_DIR=/var/lib/annotator
RUN apt-get update && apt-get install -y --no-install-recommends build-essential curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY manage.py ./
COPY formats formats
COPY annotator annotator
COPY api api
COPY frontend frontend
COPY --from=frontend /frontend/static/frontend/js frontend/static/frontend/js
# collectstatic needs a SECRET_KEY only to import settings; the real one comes at run time.
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 annotator && mkdir -p /var/lib/annotator \
    && chown -R annotator /var/lib/annotator
USER annotator
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 \
    CMD curl -fsS http://127.0.0.1:8000/api/health/ || exit 1
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn annotator.wsgi:application --bind 0.0.0.0:8000 --workers 2 --threads 8 --timeout 120 --access-logfile -"]
