"""Small tools every stage uses: default folders, progress bars, text tables, the name registry."""
