# finwatch service image: Python 3.11 on Debian with Debian's Chromium for JavaScript pages.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends chromium \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY crawler crawler
COPY nlp nlp
COPY monitor monitor
COPY models models
COPY config config
COPY scrapy.cfg ./
RUN pip install --no-cache-dir -e .
RUN useradd --system --create-home finwatch && mkdir -p /var/lib/finwatch \
    && chown finwatch /var/lib/finwatch
USER finwatch
ENV FINWATCH_CHROMIUM=/usr/bin/chromium
CMD ["finwatch", "--help"]
