# One image for the API, the operator, the migrations and the task containers; the chart
# picks the command (`bkjobs serve`, `bkjobs operator run`, `bkjobs migrate`,
# `bkjobs task run --job <ns>/<name>`). Nobody publishes it: build and push your own,
#   docker build -t registry.example.com/bookkeeper-jobs:0.1.0 .
#   docker push registry.example.com/bookkeeper-jobs:0.1.0
# and install the chart with --set image.repository=registry.example.com/bookkeeper-jobs.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/bkjobs
COPY pyproject.toml README.md ./
COPY src src
RUN /opt/bkjobs/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
# tesseract for receipt OCR; nothing else from the distribution.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/bkjobs /opt/bkjobs
# A numeric non-root user (the chart's securityContext runs as 10001 with a read-only root
# file system; data goes to the mounted volume, scratch to an emptyDir at /tmp).
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin bkjobs \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/bkjobs
# The data directory exists and belongs to the user, so `docker run <image>` works on its own
# (the chart mounts a volume there instead).
VOLUME ["/var/lib/bkjobs"]
USER 10001:10001
ENV PATH=/opt/bkjobs/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BKJOBS_DATA_DIR=/var/lib/bkjobs
WORKDIR /tmp
EXPOSE 8000
CMD ["bkjobs", "serve", "--host", "0.0.0.0", "--port", "8000"]
