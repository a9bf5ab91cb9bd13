"""Text rules every stage shares: cleaning, sentence boundaries, query terms and citation markers."""
