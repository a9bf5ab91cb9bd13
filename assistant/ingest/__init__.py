"""Reading articles: discover input files, decode them, parse each format into cleaned articles with metadata."""
