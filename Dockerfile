# The service as one image: `docker build -t service .`, then
#   docker run -p 8000:8000 -v service-data:/data -e SERVICE_ADMIN_TOKEN=... service          (web + worker, SQLite)
#   docker run ... service web | worker                                                      (one role each)
# compose.yaml runs PostgreSQL, one web and two workers from it.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install .

FROM python:3.11-slim
# A fixed, unprivileged user; /data (database, uploads, mail) belongs to it, so named volumes
# mounted there or below start out writable by it.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/service service \
    && mkdir -p /data/uploads /data/mail \
    && chown -R service:service /data
COPY --from=build /install /usr/local
COPY deploy/healthcheck.py /usr/local/lib/service/healthcheck.py
USER service
WORKDIR /home/service
ENV PYTHONUNBUFFERED=1 \
    SERVICE_DATA_DIR=/data \
    SERVICE_BIND=0.0.0.0:8000
VOLUME ["/data"]
EXPOSE 8000
# /healthz of the HTTP server, or of a worker's metrics port when SERVICE_METRICS_BIND is set.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/usr/local/lib/service/healthcheck.py"]
# SIGTERM (docker stop) drains: in-flight requests and jobs get SERVICE_SHUTDOWN_GRACE seconds.
# Give `docker stop -t` / compose's stop_grace_period more than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "service"]
CMD ["run"]
