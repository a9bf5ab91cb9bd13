"""Fetching from the web: public addresses only (the SSRF guard), redirects checked hop by hop, size limits,
conditional requests, and a user agent that names the project."""
