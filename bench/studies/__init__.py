"""Many runs: study files and presets, the sweep that runs them, and its cost estimate."""
