"""Answering: weigh the retrieved sentences, compose a cited answer (or abstain), follow up on earlier turns."""
