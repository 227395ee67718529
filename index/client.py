"""The one way to reach Elasticsearch: clients built from the settings with one timeout policy.
Every node's address is given, so a request whose node is down is retried on another one."""

from __future__ import annotations

from elasticsearch import AsyncElasticsearch, Elasticsearch

from model.settings import Settings

# Long enough for a bulk write or a catalog msearch under load; the API's health probe asks
# the cluster for its own shorter timeout.
REQUEST_TIMEOUT_S = 30.0


def connect(settings: Settings) -> Elasticsearch:
    return Elasticsearch(settings.es_urls, request_timeout=REQUEST_TIMEOUT_S)


def connect_async(settings: Settings) -> AsyncElasticsearch:
    return AsyncElasticsearch(settings.es_urls, request_timeout=REQUEST_TIMEOUT_S)
