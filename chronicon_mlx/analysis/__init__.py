"""One video, one model session: sampling frames, asking the model, the result record."""
