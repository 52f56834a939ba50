"""finwatch NLP: normalisation, plan rules and a learned model for illegal finance promotion.

The package has no dependency on Elasticsearch or Scrapy so it can be built and tested alone.
"""
