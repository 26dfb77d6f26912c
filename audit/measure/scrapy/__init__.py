"""The Scrapy engine's runner and the distributed coordinator (the spider itself lives in
spiders/)."""
