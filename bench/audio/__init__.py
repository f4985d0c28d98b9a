"""Audio in: decoding (soundfile), mono downmix, resampling, and framing into analysis windows."""
