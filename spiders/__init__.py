"""Scrapy spiders, middlewares, pipelines and settings: thin code that turns probes into
requests and responses into Observations (the classifier in audit/ does the judging)."""
