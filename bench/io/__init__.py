"""Files in and out: atomic writes and digests, resumable checksummed downloads, safe archive extraction."""
