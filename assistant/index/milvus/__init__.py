"""The Milvus backend of the index: Milvus Lite in this process, or a Milvus server (``pip install -e '.[scale]'``)."""
