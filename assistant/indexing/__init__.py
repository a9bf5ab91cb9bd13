"""From files to a published generation: read and chunk articles, embed what changed, reconcile with the index,
write through the one writer (in this process, or read and embedded on a Ray cluster)."""
