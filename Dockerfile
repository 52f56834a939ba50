# finwatch service image (scheduler and crawler workers): Python 3.11 on Debian bookworm with
# Debian's Chromium (JavaScript pages, evidence screenshots) and a CJK font (digest charts,
# screenshots of Chinese pages).
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei tzdata curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md scrapy.cfg ./
COPY crawler crawler
COPY nlp nlp
COPY monitor monitor
COPY models models
COPY config config
RUN pip install --no-cache-dir -e .
RUN useradd --system --create-home finwatch \
    && mkdir -p /var/lib/finwatch/spool /var/lib/finwatch/evidence /app/var \
    && chown -R finwatch /var/lib/finwatch /app/var
USER finwatch
ENV FINWATCH_CHROMIUM=/usr/bin/chromium \
    FINWATCH_CJK_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/finwatch"]
CMD ["finwatch", "--help"]
