FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

WORKDIR /app
# CPU build of torch; a GPU worker image installs the CUDA build here instead.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md LICENSE ./
COPY config ./config
COPY rag ./rag
COPY governance ./governance
COPY inference ./inference
RUN pip install .
COPY manage.py ./
COPY templates ./templates
COPY locale ./locale
# Static files for WhiteNoise (hashed names, compressed). Placeholder settings: collectstatic connects to nothing.
RUN SECRET_KEY=build PII_HMAC_KEY=build AUDIT_CHECKPOINT_KEY=build DATA_DIR=/tmp/build-data \
    DATABASE_URL=postgresql://build@localhost/build REDIS_URL=redis://localhost \
    python manage.py collectstatic --noinput && rm -rf /tmp/build-data \
 && useradd --system --uid 1000 --home /app emanet && mkdir -p /data && chown emanet /data
USER emanet
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application", "--bind", "0.0.0.0:8000"]
