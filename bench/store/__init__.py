"""The embedding store (content-addressed, resumable, verified) and the pipeline that fills it."""
